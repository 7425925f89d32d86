"""Helpers for the playbook distribution tests: keys, versions of a small playbook, bundle surgery,
and a real local HTTP server for channels (can serve slowly, stall, drop, lie about sizes)."""

from __future__ import annotations

import io
import re
import tarfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from knowledge.embeddings import Embedder
from knowledge.settings import Settings
from sync.bundle import sha256_file
from sync.channel import LATEST, Pointer, parse_pointer, write_pointer
from sync.keys import generate, load_private
from sync.publish import Published, publish
from tests.cards_factory import complete_playbook

PASSPHRASE = "correct horse"


@dataclass
class Admin:
    keys: Path
    line: str
    key_id: str

    def private(self) -> Ed25519PrivateKey:
        return load_private(self.keys, PASSPHRASE)


def make_admin(folder: Path) -> Admin:
    files = generate(folder, PASSPHRASE)
    return Admin(folder, files.line, files.key_id)


def trusting(settings: Settings, *admins: Admin, revoked: tuple[str, ...] = ()) -> Settings:
    settings.distribution.trusted_keys = [a.line for a in admins]
    settings.distribution.revoked_keys = list(revoked)
    return settings


def set_version(root: Path, version: int) -> None:
    path = root / "playbook.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"(?m)^version: .*$", f"version: {version}", text), encoding="utf-8")


def playbook(root: Path) -> Path:
    return complete_playbook(root) if not root.exists() else root


def publish_version(settings: Settings, root: Path, channel: Path | str, admin: Admin, version: int,
                    *, embedder: Embedder | None = None, **kwargs: Any) -> Published:
    """Publish the playbook at ``root`` as ``version`` (lemma-only unless an embedder is given)."""
    playbook(root)
    set_version(root, version)
    return publish(settings, root, str(channel), admin.private(), embedder=embedder, **kwargs)


# --- bundle surgery ---------------------------------------------------------------------------

def read_members(tar: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(tar, "r:") as archive:
        for info in archive.getmembers():
            handle = archive.extractfile(info)
            if handle is not None:
                out[info.name] = handle.read()
    return out


def write_members(tar: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(tar, "w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def flip_byte(data: bytes) -> bytes:
    """Change one byte in the middle, keeping it a printable ASCII character where possible."""
    buf = bytearray(data)
    start = len(buf) // 2
    for i in list(range(start, len(buf))) + list(range(start)):
        if 0x30 <= buf[i] <= 0x39 or 0x61 <= buf[i] <= 0x79:
            buf[i] += 1
            return bytes(buf)
    buf[start] ^= 0x01
    return bytes(buf)


def repoint(channel: Path, tar: Path, version: int | None = None) -> None:
    """What an attacker with write access to the share does: make latest.json match the file."""
    old = parse_pointer((channel / LATEST).read_bytes())
    write_pointer(channel, Pointer(old.channel, version or old.version, old.bundle, tar.stat().st_size,
                                   sha256_file(tar)))


class FakeEmbedder:
    """A deterministic stand-in for a model: hashed character trigrams, unit length."""

    def __init__(self, model_id: str = "fake-model", dim: int = 16) -> None:
        self.model_id = model_id
        self.dim = dim
        self.encoded = 0

    def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for i in range(max(len(text) - 2, 1)):
                out[row, hash(text[i : i + 3]) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return (out / norms).astype(np.float32)


# --- a channel over real HTTP -----------------------------------------------------------------

@dataclass
class Behaviour:
    stall_after: int | None = None  # bytes sent before the server goes silent
    stall_seconds: float = 10.0
    drop_after: int | None = None  # bytes sent before the connection is closed
    extra_bytes: int = 0  # junk appended beyond the real file (and the declared length)
    bytes_per_second: float | None = None
    ranges: list[str] = field(default_factory=list)  # Range headers seen for bundles


class ChannelServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.behaviour = Behaviour()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/channel"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ChannelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return None

            def do_GET(self) -> None:
                rel = self.path.removeprefix("/channel/")
                path = server.root / rel
                if ".." in rel or not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                b = server.behaviour
                start = 0
                header = self.headers.get("Range")
                if rel.startswith("bundles/") and header:
                    b.ranges.append(header)
                    start = int(header.removeprefix("bytes=").split("-")[0])
                body = data[start:] + b"\0" * (b.extra_bytes if rel.startswith("bundles/") else 0)
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                if not b.extra_bytes:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self._send(body, b if rel.startswith("bundles/") else Behaviour())

            def _send(self, body: bytes, b: Behaviour) -> None:
                sent = 0
                step = 4096
                try:
                    while sent < len(body):
                        if b.drop_after is not None and sent >= b.drop_after:
                            self.close_connection = True
                            return
                        if b.stall_after is not None and sent >= b.stall_after:
                            time.sleep(b.stall_seconds)
                            return
                        chunk = body[sent : sent + step]
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        sent += len(chunk)
                        if b.bytes_per_second:
                            time.sleep(len(chunk) / b.bytes_per_second)
                except (BrokenPipeError, ConnectionResetError):
                    return

        return Handler


def now_minus(days: int) -> datetime:
    from datetime import UTC, timedelta

    return datetime.now(UTC) - timedelta(days=days)
