"""Building and opening the playbook index, in the embedded engine or on a Qdrant server.

A build never touches the index in use: it writes a new shard folder (or server collection), then
switches to it in one atomic step (a pointer file replaced with ``os.replace``, or a collection
alias). The previous build is kept for rollback; older ones are removed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from knowledge.chunking import Chunk, card_chunks
from knowledge.embeddings import Embedder
from knowledge.playbook import Playbook, PlaybookError
from knowledge.settings import Settings
from knowledge.sparse import bm25_document, document_terms, lemma_groups
from knowledge.store import IndexCorruptedError, IndexMissingError, Point, VectorStore
from knowledge.store_edge import EdgeStore
from knowledge.taxonomy import Taxonomy, default_taxonomy
from knowledge.validate import errors, validate_playbook

Progress = Callable[[str, int, int], None]  # (stage, done, total)
META_VERSION = 1


@dataclass
class IndexMeta:
    engine: str  # "edge" or "server"
    location: str  # shard folder or collection name
    model_id: str  # "" for a lemma-only index
    dim: int
    playbook_root: str
    playbook_name: str
    playbook_version: int
    playbook_hash: str
    cards: int
    chunks: int
    avgdl: float
    built_at: float
    build_seconds: float
    vocabulary: list[str] = field(default_factory=list)
    synonyms: list[list[str]] = field(default_factory=list)  # lemmatised groups
    meta_version: int = META_VERSION

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexMeta:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class PlaybookIndex:
    meta: IndexMeta
    store: VectorStore

    def close(self) -> None:
        self.store.close()


def no_progress(stage: str, done: int, total: int) -> None:
    return None


def prepare_points(playbook: Playbook, embedder: Embedder | None, taxonomy: Taxonomy,
                   progress: Progress = no_progress) -> tuple[list[Point], float, list[str]]:
    """Chunks of every card with their sparse and dense vectors; returns (points, avgdl, vocab)."""
    pipelines = list(taxonomy.pipelines)
    pairs: list[tuple[Chunk, Any]] = []
    for card in playbook.cards:
        pairs.extend((chunk, card) for chunk in card_chunks(card, taxonomy))
    terms: list[Counter[str]] = [document_terms(chunk.sparse_text) for chunk, _ in pairs]
    avgdl = sum(sum(t.values()) for t in terms) / max(len(terms), 1)
    vocabulary = sorted({lem for t in terms for lem in t if "_" not in lem})
    dense: list[list[float] | None] = [None] * len(pairs)
    if embedder is not None:
        texts = [chunk.text for chunk, _ in pairs]
        step = 64
        for start in range(0, len(texts), step):
            vectors = embedder.encode(texts[start : start + step])
            for i, row in enumerate(vectors):
                dense[start + i] = [float(x) for x in row]
            progress("embed", min(start + step, len(texts)), len(texts))
    points = [
        Point(chunk.id, dense[i], bm25_document(terms[i], avgdl), chunk.payload(card, pipelines))
        for i, (chunk, card) in enumerate(pairs)
    ]
    return points, avgdl, vocabulary


def describe_build(engine: str, location: str, playbook: Playbook, embedder: Embedder | None, chunks: int,
                   avgdl: float, vocabulary: list[str], started: float) -> IndexMeta:
    return IndexMeta(
        engine=engine, location=location, model_id=embedder.model_id if embedder else "",
        dim=embedder.dim if embedder else 0, playbook_root=str(playbook.root.resolve()),
        playbook_name=playbook.name, playbook_version=playbook.version,
        playbook_hash=playbook.content_hash(), cards=len(playbook.cards), chunks=chunks,
        avgdl=avgdl, built_at=time.time(), build_seconds=time.perf_counter() - started,
        vocabulary=vocabulary, synonyms=lemma_groups(playbook.synonyms))


def check_buildable(playbook: Playbook, taxonomy: Taxonomy) -> None:
    problems = errors(validate_playbook(playbook.root, taxonomy))
    if problems:
        shown = "\n".join(f"  {p}" for p in problems[:10])
        more = f"\n  … и ещё {len(problems) - 10}" if len(problems) > 10 else ""
        raise PlaybookError(f"в плейбуке {len(problems)} ошибок, индекс не построен:\n{shown}{more}")


# --- the embedded engine -------------------------------------------------------------------------

def edge_root(settings: Settings) -> Path:
    return settings.index_dir() / "edge"


def _pointer(root: Path) -> Path:
    return root / "current.json"


def build_edge_index(playbook: Playbook, embedder: Embedder | None, settings: Settings,
                     progress: Progress = no_progress, taxonomy: Taxonomy | None = None) -> IndexMeta:
    tax = taxonomy or default_taxonomy()
    check_buildable(playbook, tax)
    started = time.perf_counter()
    points, avgdl, vocab = prepare_points(playbook, embedder, tax, progress)
    root = edge_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    name = f"build-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    folder = root / name
    store = EdgeStore.create(folder / "shard", embedder.dim if embedder else None)
    try:
        store.upsert(points)
        progress("store", len(points), len(points))
        store.finish()
    finally:
        store.close()
    meta = describe_build("edge", name, playbook, embedder, len(points), avgdl, vocab, started)
    _write_json(folder / "meta.json", asdict(meta))
    previous = _read_pointer(root)
    _write_json(_pointer(root), {"build": name, "previous": previous})
    _cleanup(root, keep={name, previous or ""})
    return meta


def open_edge_index(settings: Settings) -> PlaybookIndex:
    root = edge_root(settings)
    name = _read_pointer(root)
    if not name:
        raise IndexMissingError(f"индекс плейбука ещё не построен ({root})")
    return open_edge_folder(root / name)


def read_meta(folder: Path) -> IndexMeta:
    try:
        return IndexMeta.from_json(json.loads((folder / "meta.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise IndexCorruptedError(f"{folder}: описание индекса (meta.json) не читается: {exc}") from exc


def open_edge_folder(folder: Path, meta: IndexMeta | None = None) -> PlaybookIndex:
    """Open one build folder (meta.json + shard) and check it holds every chunk it should."""
    meta = meta or read_meta(folder)
    store = EdgeStore.open(folder / "shard", dense=bool(meta.dim))
    try:
        count = store.count()
    except Exception as exc:
        store.close()
        raise IndexCorruptedError(f"{folder}: индекс не отвечает: {exc}") from exc
    if count != meta.chunks:
        store.close()
        raise IndexCorruptedError(f"{folder}: в индексе {count} фрагментов вместо {meta.chunks}")
    return PlaybookIndex(meta, store)


def _read_pointer(root: Path) -> str | None:
    path = _pointer(root)
    if not path.exists():
        return None
    try:
        name = json.loads(path.read_text(encoding="utf-8")).get("build")
    except (OSError, ValueError, AttributeError) as exc:
        raise IndexCorruptedError(f"{path}: указатель на текущий индекс повреждён") from exc
    if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
        raise IndexCorruptedError(f"{path}: указатель на текущий индекс повреждён")
    return name


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _cleanup(root: Path, keep: set[str]) -> None:
    for child in root.iterdir():
        if child.is_dir() and child.name.startswith("build-") and child.name not in keep:
            shutil.rmtree(child, ignore_errors=True)


def reset_edge_index(settings: Settings) -> None:
    """Forget the current index (after corruption); the next build starts clean."""
    root = edge_root(settings)
    if root.exists():
        shutil.rmtree(root, ignore_errors=True)
