"""One app per profile: a second start hands its request to the first and exits.

The first instance listens on a QLocalServer whose name is derived from the profile folder (so tests
with their own SUFLER_HOME never meet). A second instance connects, sends one line (``show`` or
``search``...), waits for ``ok`` and quits. A server left behind by a crash is removed and taken over.
"""

from __future__ import annotations

import getpass
import hashlib

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from knowledge.settings import data_dir

TIMEOUT_MS = 1500


def server_name() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    digest = hashlib.sha1(f"{user}:{data_dir().resolve()}".encode()).hexdigest()[:16]
    return f"sufler-{digest}"


def hand_over(request: str = "show", name: str | None = None) -> bool:
    """Give the request to a running instance; True when one took it."""
    socket = QLocalSocket()
    socket.connectToServer(name or server_name())
    if not socket.waitForConnected(TIMEOUT_MS):
        return False
    socket.write((request + "\n").encode())
    socket.flush()
    ok = socket.waitForReadyRead(TIMEOUT_MS) and bytes(socket.readAll().data()).strip() == b"ok"
    socket.disconnectFromServer()
    return ok


class InstanceServer(QObject):
    """Listens for later starts; ``request`` carries what they asked for."""

    request = Signal(str)

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = name or server_name()
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)

    def listen(self) -> bool:
        if self.server.listen(self.name):
            return True
        QLocalServer.removeServer(self.name)  # a crashed instance left its socket file
        return self.server.listen(self.name)

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            return
        line = bytes(socket.readLine().data()).decode(errors="replace").strip()
        socket.write(b"ok\n")
        socket.flush()
        self.request.emit(line or "show")

    def close(self) -> None:
        self.server.close()
