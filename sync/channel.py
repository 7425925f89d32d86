"""Channels: a folder (a network share) or an http(s) location holding ``latest.json`` and
``bundles/<version>.tar``. The pointer is not trusted: it only says which file to fetch; the
signed manifest inside the bundle decides. Downloads are size-limited, stop when the server
stalls, and resume with ``Range`` from the partial file kept in staging."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import httpx

from knowledge.index import Progress, no_progress
from sync.archive import fsync_dir, fsync_file
from sync.errors import DownloadError

LATEST = "latest.json"
MAX_POINTER_BYTES = 64 * 1024
BLOCK = 64 * 1024
_BUNDLE = re.compile(r"^bundles/\d{1,9}\.tar$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Pointer:
    channel: str
    version: int
    bundle: str
    size: int
    sha256: str

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


def parse_pointer(raw: bytes) -> Pointer:
    try:
        data = json.loads(raw.decode("utf-8"))
        pointer = Pointer(str(data["channel"]), data["version"], data["bundle"], data["size"], data["sha256"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise DownloadError(f"{LATEST} канала повреждён") from exc
    ok = (isinstance(pointer.version, int) and not isinstance(pointer.version, bool) and pointer.version > 0
          and isinstance(pointer.size, int) and pointer.size >= 0 and isinstance(pointer.bundle, str)
          and bool(_BUNDLE.match(pointer.bundle)) and isinstance(pointer.sha256, str)
          and bool(_HEX64.match(pointer.sha256)))
    if not ok:
        raise DownloadError(f"{LATEST} канала повреждён")
    return pointer


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    stall_seconds: float
    deadline_seconds: float


class Channel(Protocol):
    target: str

    def latest(self) -> Pointer | None: ...

    def fetch(self, pointer: Pointer, part: Path, limits: Limits, progress: Progress = no_progress) -> None:
        """Download the bundle into ``part`` (resuming it when it is a prefix)."""
        ...


def is_http(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def open_channel(target: str) -> Channel:
    if not target:
        raise DownloadError("канал не задан: укажите --channel или distribution.channel в настройках")
    return HttpChannel(target) if is_http(target) else FolderChannel(Path(target).expanduser())


def check_size(pointer: Pointer, limits: Limits) -> None:
    if pointer.size > limits.max_bytes:
        raise DownloadError(f"пакет {pointer.size // 1_000_000} МБ больше допустимого "
                            f"({limits.max_bytes // 1_000_000} МБ)")


class FolderChannel:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.target = str(root)

    def latest(self) -> Pointer | None:
        path = self.root / LATEST
        if not self.root.is_dir():
            raise DownloadError(f"{self.root}: папка канала недоступна")
        if not path.exists():
            return None
        with path.open("rb") as fh:
            return parse_pointer(fh.read(MAX_POINTER_BYTES + 1))

    def fetch(self, pointer: Pointer, part: Path, limits: Limits, progress: Progress = no_progress) -> None:
        check_size(pointer, limits)
        source = self.root / pointer.bundle
        done = 0
        try:
            with source.open("rb") as src, part.open("wb") as dst:
                while block := src.read(BLOCK):
                    done += len(block)
                    if done > min(limits.max_bytes, pointer.size):
                        raise DownloadError("пакет больше, чем указано в latest.json")
                    dst.write(block)
                    progress("download", done, pointer.size)
        except FileNotFoundError as exc:
            raise DownloadError(f"{source}: файла пакета нет в канале") from exc
        except DownloadError:
            part.unlink(missing_ok=True)
            raise
        fsync_file(part)

    def publish(self, tar: Path, pointer: Pointer) -> Path:
        """Copy the bundle in, then replace ``latest.json`` atomically: readers see old or new."""
        target = self.root / pointer.bundle
        if target.exists():
            raise DownloadError(f"{target}: версия {pointer.version} уже опубликована")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        with tar.open("rb") as src, tmp.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, target)
        write_pointer(self.root, pointer)
        return target


def write_pointer(folder: Path, pointer: Pointer) -> None:
    tmp = folder / (LATEST + ".tmp")
    tmp.write_bytes(pointer.to_bytes())
    fsync_file(tmp)
    os.replace(tmp, folder / LATEST)
    fsync_dir(folder)


class HttpChannel:
    def __init__(self, url: str) -> None:
        self.target = url
        self.base = url if url.endswith("/") else url + "/"

    def _client(self, stall: float) -> httpx.Client:
        return httpx.Client(timeout=httpx.Timeout(stall, connect=min(stall, 15.0)), follow_redirects=False)

    def latest(self, stall: float = 15.0) -> Pointer | None:
        try:
            with self._client(stall) as client, client.stream("GET", self.base + LATEST) as resp:
                if resp.status_code == 404:
                    return None
                if resp.status_code != 200:
                    raise DownloadError(f"{self.base}{LATEST}: сервер ответил {resp.status_code}")
                raw = b""
                for block in resp.iter_bytes():
                    raw += block
                    if len(raw) > MAX_POINTER_BYTES:
                        raise DownloadError(f"{LATEST} канала слишком большой")
        except httpx.TimeoutException as exc:
            raise DownloadError(f"{self.base}: сервер не ответил за {stall:.0f} с") from exc
        except httpx.HTTPError as exc:
            raise DownloadError(f"{self.base}: канал недоступен ({type(exc).__name__})") from exc
        return parse_pointer(raw)

    def fetch(self, pointer: Pointer, part: Path, limits: Limits, progress: Progress = no_progress) -> None:
        check_size(pointer, limits)
        have = part.stat().st_size if part.exists() else 0
        if have > pointer.size:
            part.unlink()
            have = 0
        if have and have == pointer.size:
            return
        headers = {"Range": f"bytes={have}-"} if have else {}
        deadline = time.monotonic() + limits.deadline_seconds
        cap = min(limits.max_bytes, pointer.size)
        try:
            with self._client(limits.stall_seconds) as client, \
                    client.stream("GET", self.base + pointer.bundle, headers=headers) as resp:
                if resp.status_code == 206 and resp.headers.get("content-range", "").startswith(f"bytes {have}-"):
                    mode = "ab"
                elif resp.status_code == 200:
                    mode, have = "wb", 0
                else:
                    raise DownloadError(f"{self.base}{pointer.bundle}: сервер ответил {resp.status_code}")
                length = resp.headers.get("content-length")
                if length and length.isdigit() and have + int(length) > cap:
                    raise DownloadError(f"сервер отдаёт {have + int(length)} байт, больше допустимого {cap}")
                with part.open(mode) as fh:
                    for block in resp.iter_bytes():
                        have += len(block)
                        if have > cap:
                            fh.close()
                            part.unlink(missing_ok=True)
                            raise DownloadError(f"пакет больше допустимого ({cap} байт): загрузка остановлена")
                        fh.write(block)
                        progress("download", have, pointer.size)
                        if time.monotonic() > deadline:
                            raise DownloadError(f"загрузка дольше {limits.deadline_seconds:.0f} с: остановлена, "
                                                "скачанное сохранено, повторите")
                    fh.flush()
                    os.fsync(fh.fileno())
        except httpx.TimeoutException as exc:
            raise DownloadError(f"сервер перестал отдавать данные ({limits.stall_seconds:.0f} с без байта): "
                                "загрузка остановлена, скачанное сохранено") from exc
        except httpx.HTTPError as exc:
            raise DownloadError(f"загрузка прервалась ({type(exc).__name__}): скачанное сохранено, "
                                "повторите") from exc
        if have != pointer.size:
            raise DownloadError(f"скачано {have} байт из {pointer.size}: повторите, загрузка продолжится")
