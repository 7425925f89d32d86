"""Turning a verified bundle into a searchable index beside the one in use.

Each version gets a new, never-reused folder ``index/bundles/v<N>-<random>`` holding the bundle's
cards, the shard (or, with a Qdrant server, a new collection behind the alias) and ``meta.json``.
The count is checked and everything is flushed to disk before the state database is switched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from knowledge.cards import CardFormatError, card_files, read_card
from knowledge.embeddings import Embedder
from knowledge.index import IndexMeta, PlaybookIndex, Progress, describe_build, no_progress, open_edge_folder, read_meta
from knowledge.playbook import Playbook
from knowledge.settings import Settings
from knowledge.store import IndexCorruptedError, IndexMissingError, Point
from knowledge.store_edge import EdgeStore
from knowledge.taxonomy import Taxonomy, default_taxonomy
from sync.archive import fsync_dir, fsync_file
from sync.bundle import bundle_points
from sync.manifest import CARDS_DIR
from sync.state import index_root
from sync.verify import VerifiedBundle

META = "meta.json"


@dataclass
class Installed:
    folder: str
    meta: IndexMeta


def install_version(settings: Settings, bundle: VerifiedBundle, embedder: Embedder | None,
                    progress: Progress = no_progress, taxonomy: Taxonomy | None = None) -> Installed:
    """Build the version's index into a new folder; the index in use is not touched."""
    tax = taxonomy or default_taxonomy()
    started = time.perf_counter()
    manifest = bundle.manifest
    root = index_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    name = f"v{manifest.version}-{uuid.uuid4().hex[:10]}"
    folder = root / name
    folder.mkdir()
    try:
        os.replace(bundle.cards, folder / "cards")
        playbook = replace(bundle.playbook, root=folder / "cards")  # same files, parsed once in verify
        same_model = (embedder is not None and bundle.vectors is not None and embedder.model_id == manifest.model_id
                      and embedder.dim == manifest.dim)
        bundled = (bundle.records, bundle.vectors) if same_model and bundle.vectors is not None else None
        points, avgdl, vocab = bundle_points(playbook, tax, embedder, bundled, progress)
        dim = embedder.dim if embedder else 0
        if settings.index.qdrant_url:
            reuse = embedder is None or same_model  # the collection's vectors suit this desktop's queries
            engine, location = "server", server_version(settings, manifest.version, points, dim, reuse=reuse,
                                                        progress=progress)
        else:
            engine, location = "edge", name
            count = write_shard(folder / "shard", points, dim, progress)
            if count != len(points):
                raise IndexCorruptedError(f"{folder}: в новом индексе {count} фрагментов вместо {len(points)}")
        meta = describe_build(engine, location, playbook, embedder, len(points), avgdl, vocab, started)
        write_json(folder / META, asdict(meta))
        fsync_tree(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # a failed build leaves nothing behind
        raise
    return Installed(name, meta)


def write_shard(path: Path, points: list[Point], dim: int, progress: Progress = no_progress) -> int:
    store = EdgeStore.create(path, dim or None)
    try:
        store.upsert(points)
        progress("store", len(points), len(points))
        store.finish()
        return store.count()
    finally:
        store.close()


def server_version(settings: Settings, version: int, points: list[Point], dim: int, *, reuse: bool,
                   progress: Progress = no_progress) -> str:
    """The version's collection on the Qdrant server behind the alias: reused when the admin's
    publish (or another desktop) already put it there complete, otherwise made and switched to."""
    from knowledge.store_server import ServerStore, _errors, connect, drop_collections, switch_alias

    alias = settings.index.collection
    client = connect(settings.index.qdrant_url, settings.index.qdrant_api_key)
    try:
        with _errors(client):
            current = next((a.collection_name for a in client.get_aliases().aliases if a.alias_name == alias),
                           None)
            if reuse and current and current.startswith(f"{alias}-v{version}-") and \
                    int(client.count(current, exact=True).count) == len(points):
                return current
        collection = f"{alias}-v{version}-{uuid.uuid4().hex[:8]}"
        store = ServerStore.create(client, collection, dim or None)
        store.upsert(points)
        progress("store", len(points), len(points))
        if store.count() != len(points):
            raise IndexCorruptedError(f"в коллекции {collection} не все фрагменты")
        previous = switch_alias(client, alias, collection)
        drop_collections(client, prefix=f"{alias}-", keep={collection, previous or ""})
        return collection
    finally:
        client.close()


def write_json(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    fsync_file(tmp)
    os.replace(tmp, path)


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder of a new version before the database points at it."""
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(Path(dirpath))
    fsync_dir(folder.parent)


def open_version(settings: Settings, folder: Path) -> PlaybookIndex:
    """Open an installed version's index; a damaged one raises IndexCorruptedError."""
    if not folder.is_dir():
        raise IndexMissingError(f"{folder}: папки версии плейбука нет")
    meta = read_meta(folder)
    if meta.engine == "server":
        from knowledge.store_server import ServerStore, connect

        client = connect(settings.index.qdrant_url, settings.index.qdrant_api_key)
        return PlaybookIndex(meta, ServerStore.open(client, settings.index.collection, dense=bool(meta.dim)))
    return open_edge_folder(folder, meta)


def remove_unreferenced(settings: Settings, folders: set[str], bundles: set[str]) -> None:
    """Delete index folders and cached bundles that neither the active nor the previous version uses."""
    for parent, keep in ((index_root(settings), folders), (settings.bundles_dir(), bundles)):
        if not parent.is_dir():
            continue
        for child in parent.iterdir():
            if child.name in keep:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


@dataclass
class Changes:
    """What is new in a version compared with the playbook in use before it (by card id)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def lines(self, limit: int = 20) -> list[str]:
        out = [f"  + {t}" for t in self.added] + [f"  * {t}" for t in self.changed]
        out += [f"  - {t}" for t in self.removed]
        if len(out) > limit:
            out = [*out[:limit], f"  … и ещё {len(out) - limit}"]
        return out or ["  карточки не изменились"]


def compare_cards(old_root: Path | None, new: Playbook, new_hashes: dict[str, str]) -> Changes:
    """Compare card files by path and content hash; only the old files that changed are parsed."""
    old_hashes: dict[str, str] = {}
    if old_root is not None and old_root.is_dir():
        for path in card_files(old_root):
            old_hashes[path.relative_to(old_root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    titles = {c.path.relative_to(new.root).as_posix(): c.title or c.id for c in new.cards}

    def old_title(rel: str) -> str:
        try:
            card = read_card(old_root / rel) if old_root else None
        except CardFormatError:
            return rel
        return (card.title or card.id or rel) if card else rel

    return Changes(
        added=sorted(titles[r] for r in new_hashes.keys() - old_hashes.keys() if r in titles),
        changed=sorted(titles[r] for r in new_hashes.keys() & old_hashes.keys()
                       if new_hashes[r] != old_hashes[r] and r in titles),
        removed=sorted(old_title(r) for r in old_hashes.keys() - new_hashes.keys()))


def compare_folders(old_root: Path | None, new_root: Path) -> Changes:
    from knowledge.playbook import load_playbook

    hashes = {p.relative_to(new_root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
              for p in card_files(new_root)}
    return compare_cards(old_root, load_playbook(new_root), hashes)


def card_hashes(bundle: VerifiedBundle) -> dict[str, str]:
    """The bundle's card files (relative to its cards folder) and their SHA-256 from the manifest."""
    prefix = CARDS_DIR + "/"
    return {f.path[len(prefix):]: f.sha256 for f in bundle.manifest.files
            if f.path.startswith(prefix) and f.path.endswith(".md")}
