"""Building and opening the playbook index on a Qdrant server (settings ``index.qdrant_url``)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from knowledge.embeddings import Embedder
from knowledge.index import (
    IndexMeta,
    PlaybookIndex,
    Progress,
    _write_json,
    check_buildable,
    describe_build,
    no_progress,
    prepare_points,
)
from knowledge.playbook import Playbook
from knowledge.settings import Settings
from knowledge.store import IndexCorruptedError, IndexMissingError
from knowledge.store_server import ServerStore, connect, drop_collections, switch_alias
from knowledge.taxonomy import Taxonomy, default_taxonomy


def server_meta_path(settings: Settings) -> Path:
    key = hashlib.sha256(f"{settings.index.qdrant_url}\x00{settings.index.collection}".encode()).hexdigest()
    return settings.index_dir() / "server" / f"{settings.index.collection}-{key[:12]}.json"


def build_server_index(playbook: Playbook, embedder: Embedder | None, settings: Settings,
                       progress: Progress = no_progress, taxonomy: Taxonomy | None = None) -> IndexMeta:
    tax = taxonomy or default_taxonomy()
    check_buildable(playbook, tax)
    started = time.perf_counter()
    points, avgdl, vocab = prepare_points(playbook, embedder, tax, progress)
    alias = settings.index.collection
    collection = f"{alias}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    client = connect(settings.index.qdrant_url, settings.index.qdrant_api_key)
    try:
        store = ServerStore.create(client, collection, embedder.dim if embedder else None)
        store.upsert(points)
        progress("store", len(points), len(points))
        previous = switch_alias(client, alias, collection)
        drop_collections(client, prefix=f"{alias}-", keep={collection, previous or ""})
    finally:
        client.close()
    meta = describe_build("server", collection, playbook, embedder, len(points), avgdl, vocab, started)
    path = server_meta_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(path, asdict(meta))
    return meta


def open_server_index(settings: Settings) -> PlaybookIndex:
    path = server_meta_path(settings)
    if not path.exists():
        raise IndexMissingError(f"индекс на сервере {settings.index.qdrant_url} ещё не построен")
    try:
        meta = IndexMeta.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise IndexCorruptedError(f"{path}: описание индекса не читается: {exc}") from exc
    client = connect(settings.index.qdrant_url, settings.index.qdrant_api_key)
    # The alias always names the live collection; queries go through it.
    store = ServerStore.open(client, settings.index.collection, dense=bool(meta.dim))
    return PlaybookIndex(meta, store)
