"""What a bundle holds and how its points are made: the playbook files under ``cards/``, one
record per chunk (``chunks.json``) and, when a model was used, their vectors (``vectors.npy``)."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from knowledge.cards import card_files
from knowledge.chunking import Chunk, card_chunks
from knowledge.embeddings import Embedder
from knowledge.index import Progress, no_progress, prepare_points
from knowledge.playbook import MANIFEST as PLAYBOOK_FILE
from knowledge.playbook import Playbook
from knowledge.store import Point
from knowledge.taxonomy import Taxonomy
from sync.errors import BundleRejectedError, PublishError
from sync.manifest import CARDS_DIR, CHUNKS_NAME, VECTORS_NAME, FileEntry, check_path

Vectors = npt.NDArray[np.float32]
MAX_CHUNKS_JSON = 64 * 1024 * 1024


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def playbook_files(playbook: Playbook) -> list[Path]:
    """The files that make the playbook (what ``Playbook.content_hash`` covers)."""
    manifest = playbook.root / PLAYBOOK_FILE
    return ([manifest] if manifest.exists() else []) + card_files(playbook.root)


def copy_cards(playbook: Playbook, work: Path) -> list[str]:
    """Copy the playbook files into ``work/cards``; returns their bundle paths."""
    names = []
    for path in playbook_files(playbook):
        name = f"{CARDS_DIR}/{path.relative_to(playbook.root).as_posix()}"
        try:
            check_path(name)
        except BundleRejectedError as exc:
            raise PublishError(f"{path}: имя файла не годится для пакета (буквы, цифры, _ . -)") from exc
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        names.append(name)
    return names


def chunk_list(playbook: Playbook, taxonomy: Taxonomy) -> list[Chunk]:
    """Chunks in the order ``prepare_points`` makes points."""
    return [chunk for card in playbook.cards for chunk in card_chunks(card, taxonomy)]


def write_chunk_data(playbook: Playbook, embedder: Embedder | None, taxonomy: Taxonomy, work: Path,
                     progress: Progress = no_progress) -> tuple[list[str], int]:
    """Write ``chunks.json`` and (with a model) ``vectors.npy``; returns (names, chunk count)."""
    chunks = chunk_list(playbook, taxonomy)
    records = [{"id": c.id, "card": c.card_id, "part": c.part, "text": text_hash(c.text)} for c in chunks]
    (work / CHUNKS_NAME).write_text(json.dumps({"chunks": records}, ensure_ascii=False), encoding="utf-8")
    if embedder is None:
        return [CHUNKS_NAME], len(chunks)
    rows: list[Vectors] = []
    texts = [c.text for c in chunks]
    for start in range(0, len(texts), 64):
        rows.append(np.asarray(embedder.encode(texts[start : start + 64]), dtype=np.float32))
        progress("embed", min(start + 64, len(texts)), len(texts))
    matrix = np.vstack(rows) if rows else np.zeros((0, embedder.dim), dtype=np.float32)
    with (work / VECTORS_NAME).open("wb") as fh:
        np.save(fh, matrix, allow_pickle=False)
    return [CHUNKS_NAME, VECTORS_NAME], len(chunks)


def file_entries(work: Path, names: list[str]) -> list[FileEntry]:
    return [FileEntry(n, (work / n).stat().st_size, sha256_file(work / n)) for n in sorted(names)]


# --- the desktop side ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ChunkRecord:
    id: int
    card: str
    text: str


def load_chunk_records(path: Path, expected: int) -> list[ChunkRecord]:
    try:
        if path.stat().st_size > MAX_CHUNKS_JSON:
            raise BundleRejectedError(f"{CHUNKS_NAME} слишком большой")
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        items = data["chunks"]
        records = [ChunkRecord(int(i["id"]), str(i["card"]), str(i["text"])) for i in items]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleRejectedError(f"{CHUNKS_NAME} не читается") from exc
    if len(records) != expected:
        raise BundleRejectedError(f"{CHUNKS_NAME}: {len(records)} фрагментов вместо {expected}")
    return records


def load_vectors(path: Path, rows: int, dim: int) -> Vectors:
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BundleRejectedError(f"{VECTORS_NAME} не читается") from exc
    if matrix.dtype != np.float32 or matrix.shape != (rows, dim) or not np.isfinite(matrix).all():
        raise BundleRejectedError(f"{VECTORS_NAME}: форма {matrix.shape} вместо ({rows}, {dim})")
    out: Vectors = matrix
    return out


def bundle_points(playbook: Playbook, taxonomy: Taxonomy, embedder: Embedder | None,
                  bundled: tuple[list[ChunkRecord], Vectors] | None,
                  progress: Progress = no_progress) -> tuple[list[Point], float, list[str]]:
    """Points for the index: the bundle's vectors when the local model is the bundle's (only the
    chunks this app cuts differently are embedded again), otherwise embedded here, or lemmas only."""
    if embedder is None or bundled is None:
        return prepare_points(playbook, embedder, taxonomy, progress)
    points, avgdl, vocab = prepare_points(playbook, None, taxonomy, progress)
    records, matrix = bundled
    known = {(r.id, r.text): row for row, r in enumerate(records)}
    chunks = chunk_list(playbook, taxonomy)
    missing = [i for i, c in enumerate(chunks) if (c.id, text_hash(c.text)) not in known]
    fresh = embedder.encode([chunks[i].text for i in missing]) if missing else None
    extra = {i: fresh[n] for n, i in enumerate(missing)} if fresh is not None else {}
    out = []
    for i, (point, chunk) in enumerate(zip(points, chunks, strict=True)):
        row = extra[i] if i in extra else matrix[known[(chunk.id, text_hash(chunk.text))]]
        out.append(replace(point, dense=row.tolist()))
    progress("embed", len(out), len(out))
    return out, avgdl, vocab
