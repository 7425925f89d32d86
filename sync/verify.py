"""Checking a bundle archive that has already been copied into staging: the bytes checked are the
bytes that will be used. Order: archive members, signature, manifest fields, every file's size and
SHA-256 (and no extra file), then the content itself (cards readable, chunk records, vectors)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from knowledge.playbook import Playbook, PlaybookError, load_playbook
from sync.archive import extract, list_members, read_member
from sync.bundle import ChunkRecord, Vectors, load_chunk_records, load_vectors, sha256_file
from sync.errors import BundleExpiredError, BundleRejectedError
from sync.keys import TrustStore
from sync.manifest import (
    CARDS_DIR,
    CHUNKS_NAME,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SIGNATURE_NAME,
    VECTORS_NAME,
    Manifest,
    app_version,
    now_utc,
    parse_manifest,
    version_tuple,
)


@dataclass
class Expectations:
    """What this desktop requires of a bundle."""

    channel: str
    high_water: int | None = None  # None: do not compare (rebuilding the cached active version)
    version: int | None = None  # what latest.json announced
    check_expiry: bool = True
    max_bytes: int = 200_000_000
    now: datetime | None = None


@dataclass
class VerifiedBundle:
    manifest: Manifest
    tar: Path
    folder: Path  # extracted: cards/, chunks.json, vectors.npy
    records: list[ChunkRecord]
    vectors: Vectors | None
    playbook: Playbook

    @property
    def cards(self) -> Path:
        return self.folder / CARDS_DIR


def verify_bundle(tar: Path, work: Path, trust: TrustStore, expect: Expectations) -> VerifiedBundle:
    members = list_members(tar, expect.max_bytes)
    for name in (MANIFEST_NAME, SIGNATURE_NAME):
        if name not in members:
            raise BundleRejectedError(f"в пакете нет {name}")
    raw = read_member(tar, MANIFEST_NAME, MAX_MANIFEST_BYTES)
    signature = read_member(tar, SIGNATURE_NAME, 1024)
    manifest = parse_manifest(raw)
    problem = trust.verify(manifest.key_id, signature, raw)
    if problem:
        raise BundleRejectedError(problem)
    check_fields(manifest, expect)
    listed = manifest.by_path()
    for name, info in members.items():
        if name in (MANIFEST_NAME, SIGNATURE_NAME):
            continue
        entry = listed.get(name)
        if entry is None:
            raise BundleRejectedError(f"в пакете лишний файл, которого нет в манифесте: {name[:120]}")
        if info.size != entry.size:
            raise BundleRejectedError(f"{name}: размер {info.size} вместо {entry.size} по манифесту")
    missing = sorted(set(listed) - set(members))
    if missing:
        raise BundleRejectedError(f"в пакете нет файла из манифеста: {missing[0]}")
    folder = work / "content"
    extract(tar, folder, set(listed))
    for entry in manifest.files:
        path = folder / entry.path
        if not path.is_file() or path.is_symlink() or path.stat().st_size != entry.size:
            raise BundleRejectedError(f"{entry.path}: размер не совпадает с манифестом")
        if sha256_file(path) != entry.sha256:
            raise BundleRejectedError(f"{entry.path}: SHA-256 не совпадает с манифестом")
    playbook, records, vectors = check_content(folder, manifest)
    return VerifiedBundle(manifest, tar, folder, records, vectors, playbook)


def check_fields(manifest: Manifest, expect: Expectations) -> None:
    if manifest.channel != expect.channel:
        raise BundleRejectedError(f"пакет для канала «{manifest.channel}», а этот компьютер получает "
                                  f"«{expect.channel}»")
    if expect.version is not None and manifest.version != expect.version:
        raise BundleRejectedError(f"latest.json называет версию {expect.version}, а в пакете версия "
                                  f"{manifest.version}")
    if expect.high_water is not None and manifest.version <= expect.high_water:
        raise BundleRejectedError(f"версия {manifest.version} не новее уже применённой {expect.high_water} "
                                  "(старые версии не принимаются)")
    if version_tuple(manifest.min_app_version) > version_tuple(app_version()):
        raise BundleRejectedError(f"пакету нужна версия Суфлёра не ниже {manifest.min_app_version} "
                                  f"(установлена {app_version()}); обновите приложение")
    if expect.check_expiry and (expect.now or now_utc()) >= manifest.expires_at():
        raise BundleExpiredError(f"срок действия версии {manifest.version} истёк {manifest.expires}; "
                                 "плейбук не обновлён, попросите администратора опубликовать новую версию")


def check_content(folder: Path, manifest: Manifest) -> tuple[Playbook, list[ChunkRecord], Vectors | None]:
    names = {f.path for f in manifest.files}
    if CHUNKS_NAME not in names:
        raise BundleRejectedError(f"в пакете нет {CHUNKS_NAME}")
    if (VECTORS_NAME in names) != (manifest.dim > 0):
        raise BundleRejectedError(f"{VECTORS_NAME} не соответствует размерности {manifest.dim} в манифесте")
    cards = folder / CARDS_DIR
    try:  # the full validation ran when the admin published (under this signature); here: it all reads
        playbook = load_playbook(cards)
    except PlaybookError as exc:
        raise BundleRejectedError(f"плейбук в пакете не читается: {exc}") from exc
    if playbook.unreadable:
        raise BundleRejectedError(f"карточка в пакете не читается: {playbook.unreadable[0].reason}")
    ids = [c.id for c in playbook.cards]
    if len(set(ids)) != len(ids) or not all(ids):
        raise BundleRejectedError("в пакете карточки без id или с повторяющимися id")
    if len(playbook.cards) != manifest.cards or playbook.version != manifest.version:
        raise BundleRejectedError("карточки в пакете не совпадают с манифестом (число или версия)")
    records = load_chunk_records(folder / CHUNKS_NAME, manifest.chunks)
    vectors = load_vectors(folder / VECTORS_NAME, manifest.chunks, manifest.dim) if manifest.dim else None
    return playbook, records, vectors
