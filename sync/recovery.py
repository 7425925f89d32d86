"""Start-up recovery (the CLI and the app call ``startup``): clean the staging area, drop what an
interrupted apply left behind, and when the active version's index is broken, rebuild it from the
cached verified bundle; if that is impossible, fall back to the previous version."""

from __future__ import annotations

import shutil

from knowledge.index import IndexMeta, Progress, no_progress
from knowledge.settings import Settings
from knowledge.store import IndexError_
from sync.apply import (
    FROM_SETTINGS,
    EmbedderChoice,
    _work_dir,
    clean_staging,
    expired,
    limits,
    lock_path,
    read_state,
    resolve_embedder,
    trust_store,
)
from sync.errors import BusyError, StateError, SyncError
from sync.install import install_version, open_version, remove_unreferenced
from sync.lock import exclusive
from sync.state import StateDB, VersionRow, index_root
from sync.verify import Expectations, verify_bundle


def startup(settings: Settings, embedder: EmbedderChoice = FROM_SETTINGS,
            progress: Progress = no_progress) -> list[str]:
    """Run once when the app or a command starts; returns notices for the user."""
    has_state = settings.state_path().exists()
    if not has_state and not settings.staging_dir().exists():
        return []
    notices: list[str] = []
    try:
        with exclusive(lock_path(settings)):
            clean_staging(settings, keep_downloads=True)
            if not has_state:
                return notices
            with StateDB(settings) as db:
                state = db.read()
                folders, bundles = db.referenced()
            remove_unreferenced(settings, folders, bundles)
            if state.active is None:
                return notices
            problem = health(settings, state.active)
            if problem:
                notices.append(f"индекс версии {state.active.version} повреждён ({problem}); "
                               "восстанавливаю из сохранённого пакета")
                notices.extend(_repair(settings, embedder, progress))
            elif expired(state.active):
                notices.append(f"срок действия версии плейбука {state.active.version} истёк "
                               f"{state.active.expires}: проверьте обновления (sufler kb pull)")
    except BusyError:
        notices.append("плейбук сейчас обновляет другой процесс Суфлёра")
    return notices


def health(settings: Settings, row: VersionRow) -> str:
    """Empty when the version's index opens and holds every chunk; otherwise what is wrong."""
    if not row.folder:
        return "папка индекса не записана"
    try:
        open_version(settings, index_root(settings) / row.folder).close()
    except IndexError_ as exc:
        return str(exc)
    return ""


def rebuild_active(settings: Settings, embedder: EmbedderChoice = FROM_SETTINGS,
                   progress: Progress = no_progress) -> IndexMeta:
    """Index the active version again from its cached bundle (damaged index, or another model)."""
    with exclusive(lock_path(settings), wait=True):
        return _rebuild(settings, embedder, progress)


def _repair(settings: Settings, embedder: EmbedderChoice, progress: Progress) -> list[str]:
    try:
        meta = _rebuild(settings, embedder, progress)
        return [f"индекс версии {meta.playbook_version} восстановлен из сохранённого пакета"]
    except (SyncError, IndexError_, OSError) as exc:
        state = read_state(settings)
        with StateDB(settings) as db:
            if state.previous is not None and not health(settings, state.previous):
                db.rollback()
                return [f"восстановить не удалось ({exc}); включена предыдущая версия {state.previous.version}"]
            db.deactivate()
        return [f"восстановить не удалось ({exc}); включён встроенный плейбук"]


def _rebuild(settings: Settings, embedder: EmbedderChoice, progress: Progress) -> IndexMeta:
    row = read_state(settings).active
    if row is None or not row.bundle:
        raise StateError("нет активной версии плейбука из канала")
    cached = settings.bundles_dir() / row.bundle
    if not cached.is_file():
        raise StateError(f"сохранённый пакет версии {row.version} пропал ({cached})")
    work = _work_dir(settings, "rebuild")
    try:
        tar = work / "bundle.tar"
        shutil.copyfile(cached, tar)
        expect = Expectations(row.channel, None, row.version, check_expiry=False,
                              max_bytes=limits(settings).max_bytes)
        verified = verify_bundle(tar, work, trust_store(settings), expect)
        installed = install_version(settings, verified, resolve_embedder(settings, embedder), progress)
        with StateDB(settings) as db:
            db.replace_folder(row.version, installed.folder, installed.meta.model_id, installed.meta.dim)
        if row.folder:
            shutil.rmtree(index_root(settings) / row.folder, ignore_errors=True)
        return installed.meta
    finally:
        shutil.rmtree(work, ignore_errors=True)
