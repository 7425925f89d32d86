"""Qdrant's in-process engine (qdrant-edge-py): the default store, on disk, ~0.4 ms per hybrid
query at 10,000 chunks where qdrant-client's pure-Python local mode needs ~73 ms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import qdrant_edge as qe

from knowledge.sparse import SparseVec
from knowledge.store import (
    ANY_INDUSTRY,
    DENSE,
    PAYLOAD_INDEXES,
    PREFETCH,
    RRF_K,
    SPARSE,
    FusionWeights,
    Hit,
    IndexCorruptedError,
    Point,
    SearchFilter,
)

BATCH = 512


def edge_filter(flt: SearchFilter) -> qe.Filter | None:
    if flt.is_empty():
        return None
    must: list[qe.FieldCondition] = []
    if flt.kind:
        must.append(qe.FieldCondition(key="kind", match=qe.MatchValue(flt.kind)))
    if flt.pipeline:
        must.append(qe.FieldCondition(key="pipelines", match=qe.MatchValue(flt.pipeline)))
    if flt.handles:
        must.append(qe.FieldCondition(key="handles", match=qe.MatchValue(flt.handles)))
    if flt.industry:
        must.append(qe.FieldCondition(key="industries", match=qe.MatchAny([flt.industry, ANY_INDUSTRY])))
    return qe.Filter(must=list(must))


class EdgeStore:
    def __init__(self, shard: qe.EdgeShard, path: Path, dense: bool) -> None:
        self._shard = shard
        self.path = path
        self.has_dense = dense

    @classmethod
    def create(cls, path: Path, dim: int | None) -> EdgeStore:
        vectors = {DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)} if dim else None
        config = qe.EdgeConfig(vectors=vectors,
                               sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)})
        path.mkdir(parents=True, exist_ok=True)
        shard = qe.EdgeShard.create(str(path), config)
        for name in PAYLOAD_INDEXES:
            shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword))
        return cls(shard, path, dense=bool(dim))

    @classmethod
    def open(cls, path: Path, dense: bool) -> EdgeStore:
        if not path.is_dir():
            raise IndexCorruptedError(f"{path}: папка индекса пропала")
        try:
            shard = qe.EdgeShard.load(str(path))
        except BaseException as exc:  # the Rust engine raises plain exceptions or panics
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            raise IndexCorruptedError(f"{path}: индекс не читается ({_first_line(exc)})") from exc
        return cls(shard, path, dense)

    def upsert(self, points: list[Point]) -> None:
        for start in range(0, len(points), BATCH):
            batch = []
            for p in points[start : start + BATCH]:
                vector: dict[str, list[float] | qe.SparseVector | list[list[float]]] = {
                    SPARSE: qe.SparseVector(p.sparse.indices, p.sparse.values)}
                if p.dense is not None:
                    vector[DENSE] = p.dense
                batch.append(qe.Point(p.id, vector, p.payload))
            self._shard.update(qe.UpdateOperation.upsert_points(batch))

    def finish(self) -> None:
        self._shard.optimize()
        self._shard.flush()

    def query(self, dense: list[float] | None, sparse: SparseVec, flt: SearchFilter, limit: int,
              weights: FusionWeights) -> list[Hit]:
        qfilter = edge_filter(flt)
        sparse_query = qe.Query.Nearest(qe.SparseVector(sparse.indices, sparse.values), using=SPARSE)
        prefetches = []
        if sparse:
            prefetches.append(qe.Prefetch(limit=PREFETCH, query=sparse_query, filter=qfilter))
        if dense is not None and self.has_dense:
            prefetches.append(qe.Prefetch(limit=PREFETCH, query=qe.Query.Nearest(dense, using=DENSE),
                                          filter=qfilter))
        if not prefetches:
            return []
        if len(prefetches) == 1:
            request = qe.QueryRequest(limit=limit, query=prefetches[0].query, filter=qfilter,
                                      with_payload=True)
        else:
            fusion: Any = qe.Fusion.Rrf(k=RRF_K, weights=[weights.sparse, weights.dense])  # stub omits Rrf
            request = qe.QueryRequest(limit=limit, prefetches=prefetches, query=fusion, filter=qfilter,
                                      with_payload=True)
        return [Hit(int(p.id), float(p.score), dict(p.payload or {})) for p in self._shard.query(request)]

    def count(self) -> int:
        return int(self._shard.count(qe.CountRequest(exact=True)))

    def close(self) -> None:
        self._shard.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
