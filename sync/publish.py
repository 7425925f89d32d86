"""The admin's side: validate the playbook, compute its vectors, write and sign a versioned bundle,
and put it into the channel (a folder), or into a local folder to upload (an http(s) channel).
With a Qdrant server in the settings the same version is also upserted there behind the alias."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from knowledge.embeddings import Embedder
from knowledge.index import Progress, no_progress
from knowledge.playbook import load_playbook
from knowledge.settings import Settings
from knowledge.taxonomy import default_taxonomy
from knowledge.validate import errors, validate_playbook
from sync.apply import FROM_SETTINGS, EmbedderChoice, resolve_embedder
from sync.archive import write_tar
from sync.bundle import (
    bundle_points,
    copy_cards,
    file_entries,
    load_chunk_records,
    load_vectors,
    sha256_file,
    write_chunk_data,
)
from sync.channel import LATEST, FolderChannel, HttpChannel, Pointer, is_http, parse_pointer, write_pointer
from sync.errors import DownloadError, PublishError
from sync.keys import key_id
from sync.manifest import (
    CHUNKS_NAME,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    VECTORS_NAME,
    Manifest,
    app_version,
    format_time,
    now_utc,
)


@dataclass
class Published:
    version: int
    channel_name: str
    bundle: Path
    pointer: Pointer
    key_id: str
    cards: int
    chunks: int
    model_id: str
    expires: str
    uploads: list[Path] = field(default_factory=list)  # http(s): upload these, in this order
    server_collection: str = ""


def publish(settings: Settings, playbook_dir: Path, channel: str, key: Ed25519PrivateKey, *,
            channel_name: str | None = None, out: Path | None = None, expires_days: int | None = None,
            min_app_version: str | None = None, embedder: EmbedderChoice = FROM_SETTINGS,
            now: datetime | None = None, progress: Progress = no_progress) -> Published:
    tax = default_taxonomy()
    problems = errors(validate_playbook(playbook_dir, tax))
    if problems:
        raise PublishError(f"в плейбуке {len(problems)} ошибок, пакет не опубликован; первая: {problems[0]}")
    playbook = load_playbook(playbook_dir)
    name = channel_name or settings.distribution.channel_name
    if playbook.version < 1:
        raise PublishError(f"{playbook_dir / 'playbook.yaml'}: укажите version — целое число больше 0")
    if is_http(channel) and out is None:
        raise PublishError("для канала http(s) укажите --out ПАПКА: туда будут записаны файлы для загрузки")
    latest = _latest(channel, out)
    if latest is not None and playbook.version <= latest:
        raise PublishError(f"version {playbook.version} в playbook.yaml не больше опубликованной в канале "
                           f"{latest}: увеличьте version")
    model = resolve_embedder(settings, embedder)
    created = now or now_utc()
    expires = created + timedelta(days=expires_days or settings.distribution.expires_days)
    with tempfile.TemporaryDirectory(prefix="sufler-publish-") as tmp:
        work = Path(tmp)
        names = copy_cards(playbook, work)
        data_names, chunks = write_chunk_data(playbook, model, tax, work, progress)
        names += data_names
        manifest = Manifest(
            channel=name, version=playbook.version, playbook_name=playbook.name, cards=len(playbook.cards),
            chunks=chunks, created=format_time(created), expires=format_time(expires),
            min_app_version=min_app_version or app_version(), model_id=model.model_id if model else "",
            dim=model.dim if model else 0, key_id=key_id(key.public_key()), files=file_entries(work, names))
        raw = manifest.to_bytes()
        (work / MANIFEST_NAME).write_bytes(raw)
        (work / SIGNATURE_NAME).write_bytes(key.sign(raw))
        tar = work / f"{playbook.version}.tar"
        write_tar(work, [MANIFEST_NAME, SIGNATURE_NAME, *sorted(names)], tar)
        pointer = Pointer(name, playbook.version, f"bundles/{playbook.version}.tar", tar.stat().st_size,
                          sha256_file(tar))
        result = Published(playbook.version, name, Path(), pointer, manifest.key_id, manifest.cards, chunks,
                           manifest.model_id, manifest.expires)
        if out is None:
            try:
                result.bundle = FolderChannel(Path(channel).expanduser()).publish(tar, pointer)
            except DownloadError as exc:
                raise PublishError(str(exc)) from exc
        else:
            result.bundle = out / pointer.bundle
            result.bundle.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tar, result.bundle)
            write_pointer(out, pointer)
            result.uploads = [result.bundle, out / LATEST]
        if settings.index.qdrant_url:
            result.server_collection = _upsert_server(settings, playbook_dir, work, manifest, model, progress)
    return result


def _latest(channel: str, out: Path | None) -> int | None:
    """The newest version the channel (and the local upload folder) already has."""
    versions: list[int] = []
    try:
        if is_http(channel):
            remote = HttpChannel(channel).latest()
            if out is not None and (out / LATEST).exists():
                versions.append(parse_pointer((out / LATEST).read_bytes()).version)
        else:
            folder = Path(channel).expanduser()
            folder.mkdir(parents=True, exist_ok=True)
            remote = FolderChannel(folder).latest()
    except DownloadError as exc:
        raise PublishError(f"не удалось узнать последнюю версию в канале: {exc}") from exc
    if remote is not None:
        versions.append(remote.version)
    return max(versions) if versions else None


def _upsert_server(settings: Settings, playbook_dir: Path, work: Path, manifest: Manifest,
                   model: Embedder | None, progress: Progress) -> str:
    from sync.install import server_version

    playbook = load_playbook(playbook_dir)
    records = load_chunk_records(work / CHUNKS_NAME, manifest.chunks)
    bundled = (records, load_vectors(work / VECTORS_NAME, manifest.chunks, manifest.dim)) if manifest.dim else None
    points, _, _ = bundle_points(playbook, default_taxonomy(), model, bundled, progress)
    return server_version(settings, manifest.version, points, manifest.dim, reuse=False, progress=progress)
