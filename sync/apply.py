"""Pulling a bundle from the channel and applying it; rolling back; the desktop's version status.

Apply = copy into staging, verify the copy, index into a new folder, keep the verified bundle,
then switch the active version in one SQLite transaction. A crash at any moment leaves the old
version active (or the new one, complete); start-up recovery removes what was left half-made.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from knowledge.embeddings import Embedder, load_embedder
from knowledge.index import Progress, no_progress
from knowledge.settings import Settings
from sync.archive import fsync_dir
from sync.bundle import sha256_file
from sync.channel import Limits, open_channel
from sync.errors import BundleRejectedError, DownloadError, StateError, SyncError
from sync.install import (
    Changes,
    card_hashes,
    compare_cards,
    compare_folders,
    install_version,
    open_version,
    remove_unreferenced,
)
from sync.keys import TrustStore, load_public_folder
from sync.lock import exclusive
from sync.manifest import now_utc, parse_time
from sync.state import State, StateDB, VersionRow, active_bundle, index_root
from sync.verify import Expectations, VerifiedBundle, verify_bundle


class _FromSettings:
    """Load the embedding model named in the settings (the default)."""


FROM_SETTINGS = _FromSettings()
EmbedderChoice = Embedder | None | _FromSettings


def resolve_embedder(settings: Settings, choice: EmbedderChoice) -> Embedder | None:
    return load_embedder(settings)[0] if isinstance(choice, _FromSettings) else choice


def lock_path(settings: Settings) -> Path:
    return settings.state_path().with_name("playbook-apply.lock")


def downloads_dir(settings: Settings) -> Path:
    return settings.staging_dir() / "downloads"


def trust_store(settings: Settings, trust_dir: Path | None = None) -> TrustStore:
    extra = load_public_folder(trust_dir) if trust_dir else []
    dist = settings.distribution
    store = TrustStore.build(dist.trusted_keys, dist.revoked_keys, extra)
    if not store.keys:
        raise SyncError("нет доверенных ключей: добавьте открытый ключ администратора "
                        "(distribution.trusted_keys в настройках или --trust ПАПКА)")
    return store


def limits(settings: Settings) -> Limits:
    dist = settings.distribution
    return Limits(dist.max_bundle_mb * 1_000_000, dist.stall_timeout_seconds, dist.download_deadline_seconds)


def read_state(settings: Settings) -> State:
    if not settings.state_path().exists():
        return State(None, None, 0, "")
    with StateDB(settings) as db:
        return db.read()


@dataclass
class ApplyResult:
    version: int
    previous: int | None
    changes: Changes
    cards: int
    seconds: float
    expires: str
    vectors: str

    def headline(self) -> str:
        return f"Плейбук обновлён до версии {self.version}: что нового"


def pull(settings: Settings, channel: str | None = None, trust_dir: Path | None = None,
         embedder: EmbedderChoice = FROM_SETTINGS, progress: Progress = no_progress) -> ApplyResult | None:
    """Fetch the channel's latest bundle and apply it; None when the newest version is in use."""
    target = channel or settings.distribution.channel
    source = open_channel(target)
    trust = trust_store(settings, trust_dir)
    with exclusive(lock_path(settings)):
        clean_staging(settings, keep_downloads=True)
        state = read_state(settings)
        pointer = source.latest()
        if pointer is None:
            raise DownloadError(f"{target}: в канале ещё нет опубликованных версий")
        if pointer.version == state.high_water:
            return None
        if pointer.version < state.high_water:
            raise BundleRejectedError(f"в канале версия {pointer.version}, старше уже применённой "
                                      f"{state.high_water} (старые версии не принимаются)")
        downloads = downloads_dir(settings)
        downloads.mkdir(parents=True, exist_ok=True)
        part = downloads / (hashlib.sha256(f"{target}\x00{pointer.bundle}".encode()).hexdigest()[:16] + ".part")
        source.fetch(pointer, part, limits(settings), progress)
        if sha256_file(part) != pointer.sha256:
            part.unlink()
            raise DownloadError("скачанный пакет не совпадает с latest.json (SHA-256): повторите загрузку")
        work = _work_dir(settings, "apply")
        tar = work / "bundle.tar"
        part.replace(tar)
        expect = Expectations(settings.distribution.channel_name, state.high_water, pointer.version,
                              max_bytes=limits(settings).max_bytes)
        return _apply_staged(settings, tar, work, trust, expect, embedder, progress)


def apply_file(settings: Settings, bundle: Path, trust: TrustStore | None = None,
               embedder: EmbedderChoice = FROM_SETTINGS, progress: Progress = no_progress) -> ApplyResult:
    """Apply a bundle file (from a USB stick, a test, a benchmark): the copy in staging is verified."""
    trust = trust or trust_store(settings)
    with exclusive(lock_path(settings)):
        clean_staging(settings, keep_downloads=True)
        state = read_state(settings)
        work = _work_dir(settings, "apply")
        tar = work / "bundle.tar"
        shutil.copyfile(bundle, tar)
        expect = Expectations(settings.distribution.channel_name, state.high_water,
                              max_bytes=limits(settings).max_bytes)
        return _apply_staged(settings, tar, work, trust, expect, embedder, progress)


def _work_dir(settings: Settings, kind: str) -> Path:
    work = settings.staging_dir() / f"{kind}-{uuid.uuid4().hex[:10]}"
    work.mkdir(parents=True)
    return work


def _apply_staged(settings: Settings, tar: Path, work: Path, trust: TrustStore, expect: Expectations,
                  embedder: EmbedderChoice, progress: Progress) -> ApplyResult:
    started = time.perf_counter()
    made: list[Path] = []
    try:
        verified = verify_bundle(tar, work, trust, expect)
        progress("verify", 1, 1)
        model = resolve_embedder(settings, embedder)
        before = active_bundle(settings)
        changes = compare_cards(before.cards if before else settings.playbook_dir(), verified.playbook,
                                card_hashes(verified))
        installed = install_version(settings, verified, model, progress)
        made.append(index_root(settings) / installed.folder)
        cached = _keep_bundle(settings, verified)
        made.append(cached)
        m = verified.manifest
        row = VersionRow(m.version, m.channel, "active", installed.folder, cached.name, installed.meta.model_id,
                         installed.meta.dim, m.cards, installed.meta.chunks, m.created, m.expires, m.key_id, 0.0)
        with StateDB(settings) as db:
            state = db.activate(row)
            made.clear()
            folders, bundles = db.referenced()
        remove_unreferenced(settings, folders, bundles)
    finally:
        for path in made:  # a failure before the switch: nothing of the new version stays
            remove(path)
        shutil.rmtree(work, ignore_errors=True)
    if model is None:
        used = "поиск по леммам"
    elif verified.vectors is not None and model.model_id == m.model_id:
        used = "векторы из пакета"
    else:
        used = f"векторы посчитаны моделью {model.model_id}"
    return ApplyResult(m.version, state.previous.version if state.previous else None, changes, m.cards,
                       time.perf_counter() - started, m.expires, used)


def _keep_bundle(settings: Settings, verified: VerifiedBundle) -> Path:
    """Move the verified archive into the bundle cache (for recovery without the network)."""
    cache = settings.bundles_dir()
    cache.mkdir(parents=True, exist_ok=True)
    m = verified.manifest
    target = cache / f"{m.channel}-v{m.version}-{uuid.uuid4().hex[:8]}.tar"
    verified.tar.replace(target)
    fsync_dir(cache)
    return target


def clean_staging(settings: Settings, keep_downloads: bool = True) -> None:
    """Remove whatever an interrupted apply left in staging (partial downloads may be kept: they are
    resumed and verified as a whole before use)."""
    staging = settings.staging_dir()
    if not staging.is_dir():
        return
    for child in staging.iterdir():
        if not (keep_downloads and child.name == "downloads" and child.is_dir()):
            remove(child)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def rollback(settings: Settings) -> tuple[State, Changes]:
    """Make the previous version active again (it was kept, index and all)."""
    with exclusive(lock_path(settings), wait=True):
        state = read_state(settings)
        target = state.previous
        if target is None or not target.folder:
            raise StateError("нет предыдущей версии плейбука для отката")
        folder = index_root(settings) / target.folder
        open_version(settings, folder).close()  # refuse to switch to a damaged index
        current = active_bundle(settings)
        changes = compare_folders(current.cards if current else settings.playbook_dir(), folder / "cards")
        with StateDB(settings) as db:
            return db.rollback(), changes


def deactivate(settings: Settings) -> bool:
    """A locally built playbook replaces the bundle (``kb build``); ``kb rollback`` brings it back."""
    if not settings.state_path().exists():
        return False
    with exclusive(lock_path(settings), wait=True), StateDB(settings) as db:
        if db.read().active is None:
            return False
        db.deactivate()
        folders, bundles = db.referenced()
    remove_unreferenced(settings, folders, bundles)
    return True


def expired(row: VersionRow) -> bool:
    return now_utc() >= parse_time(row.expires)
