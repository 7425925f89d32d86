"""One applier at a time: an exclusive lock file under the data folder (released by the OS when the
process dies, so a ``kill -9`` never leaves it stuck)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sync.errors import BusyError


@contextmanager
def exclusive(path: Path, *, wait: bool = False) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            _lock(fd, wait)
        except OSError as exc:
            raise BusyError("плейбук сейчас обновляет другой процесс Суфлёра; повторите позже") from exc
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int, wait: bool) -> None:
        msvcrt.locking(fd, msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK, 1)
else:
    import fcntl

    def _lock(fd: int, wait: bool) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
