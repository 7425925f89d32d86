"""The bundle manifest: what is signed. Parsed strictly (it comes from outside): any unexpected
shape is a rejection with a reason, never an unhandled exception."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from sync.errors import BundleRejectedError

FORMAT = 1
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
CHUNKS_NAME = "chunks.json"
VECTORS_NAME = "vectors.npy"
CARDS_DIR = "cards"
MAX_MANIFEST_BYTES = 8 * 1024 * 1024
_PART = re.compile(r"^[\w][\w.+-]*$")  # letters (Cyrillic too), digits, _ . + - ; no leading dot
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_VERSION = re.compile(r"^\d{1,6}(\.\d{1,6}){0,3}$")


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str


@dataclass
class Manifest:
    channel: str
    version: int
    playbook_name: str
    cards: int
    chunks: int
    created: str
    expires: str
    min_app_version: str
    model_id: str
    dim: int
    key_id: str
    files: list[FileEntry] = field(default_factory=list)
    format: int = FORMAT

    def to_bytes(self) -> bytes:
        data = asdict(self)
        data["embedding"] = {"model_id": data.pop("model_id"), "dim": data.pop("dim")}
        return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8") + b"\n"

    def expires_at(self) -> datetime:
        return parse_time(self.expires)

    def by_path(self) -> dict[str, FileEntry]:
        return {f.path: f for f in self.files}


def now_utc() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def app_version() -> str:
    try:
        return metadata.version("sufler-sales")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def version_tuple(text: str) -> tuple[int, ...]:
    if not _VERSION.match(text):
        raise ValueError(f"не номер версии: {text!r}")
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (4 - len(parts)))


def check_path(path: str) -> str:
    """A bundle path: relative, forward slashes, no ``..``, no hidden or odd names."""
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or any(not _PART.match(p) for p in parts):
        raise BundleRejectedError(f"недопустимый путь в пакете: {path[:120]!r}")
    if not (path in (CHUNKS_NAME, VECTORS_NAME) or (parts[0] == CARDS_DIR and len(parts) > 1)):
        raise BundleRejectedError(f"неожиданный файл в пакете: {path[:120]!r}")
    return path


def _need(data: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BundleRejectedError(f"manifest.json повреждён: поле {key}")
    return value


def parse_manifest(raw: bytes) -> Manifest:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleRejectedError("manifest.json слишком большой")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BundleRejectedError("manifest.json не читается как JSON") from exc
    if not isinstance(data, dict):
        raise BundleRejectedError("manifest.json повреждён")
    if data.get("format") != FORMAT:
        raise BundleRejectedError(f"формат пакета {data.get('format')!r} не поддерживается этой версией")
    embedding = _need(data, "embedding", dict)
    files: list[FileEntry] = []
    seen: set[str] = set()
    for item in _need(data, "files", list):
        if not isinstance(item, dict):
            raise BundleRejectedError("manifest.json повреждён: поле files")
        path = check_path(_need(item, "path", str))
        size, digest = _need(item, "size", int), _need(item, "sha256", str)
        if size < 0 or not _HEX64.match(digest) or path in seen:
            raise BundleRejectedError(f"manifest.json повреждён: файл {path}")
        seen.add(path)
        files.append(FileEntry(path, size, digest))
    manifest = Manifest(
        channel=_need(data, "channel", str), version=_need(data, "version", int),
        playbook_name=_need(data, "playbook_name", str), cards=_need(data, "cards", int),
        chunks=_need(data, "chunks", int), created=_need(data, "created", str),
        expires=_need(data, "expires", str), min_app_version=_need(data, "min_app_version", str),
        model_id=_need(embedding, "model_id", str), dim=_need(embedding, "dim", int),
        key_id=_need(data, "key_id", str), files=files)
    try:
        parse_time(manifest.created)
        parse_time(manifest.expires)
        version_tuple(manifest.min_app_version)
    except ValueError as exc:
        raise BundleRejectedError(f"manifest.json повреждён: {exc}") from exc
    if not _KEY_ID.match(manifest.key_id) or manifest.version < 1 or manifest.dim < 0 or manifest.chunks < 0:
        raise BundleRejectedError("manifest.json повреждён: версия, ключ или размерность")
    return manifest
