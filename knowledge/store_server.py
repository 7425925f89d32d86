"""A Qdrant server or cluster by URL through qdrant-client: for teams that outgrow one machine.

Each build goes into a new collection; the alias named in settings is switched atomically, and
the previous collection is kept for rollback.
"""

from __future__ import annotations

from typing import Any

from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

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
    IndexMissingError,
    Point,
    SearchFilter,
    StoreUnavailableError,
)

BATCH = 256


def server_filter(flt: SearchFilter) -> qm.Filter | None:
    if flt.is_empty():
        return None
    must: list[Any] = []
    if flt.kind:
        must.append(qm.FieldCondition(key="kind", match=qm.MatchValue(value=flt.kind)))
    if flt.pipeline:
        must.append(qm.FieldCondition(key="pipelines", match=qm.MatchValue(value=flt.pipeline)))
    if flt.handles:
        must.append(qm.FieldCondition(key="handles", match=qm.MatchValue(value=flt.handles)))
    if flt.industry:
        must.append(qm.FieldCondition(key="industries", match=qm.MatchAny(any=[flt.industry, ANY_INDUSTRY])))
    return qm.Filter(must=must)


def connect(url: str, api_key: str = "", timeout: float = 10.0) -> QdrantClient:
    return QdrantClient(url=url, api_key=api_key or None, timeout=int(timeout), check_compatibility=False)


class ServerStore:
    def __init__(self, client: QdrantClient, collection: str, dense: bool) -> None:
        self._client = client
        self.collection = collection
        self.has_dense = dense

    @classmethod
    def create(cls, client: QdrantClient, collection: str, dim: int | None) -> ServerStore:
        with _errors(client):
            if client.collection_exists(collection):
                client.delete_collection(collection)
            vectors = {DENSE: qm.VectorParams(size=dim, distance=qm.Distance.COSINE)} if dim else {}
            client.create_collection(
                collection, vectors_config=vectors,
                sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)})
            for name in PAYLOAD_INDEXES:
                client.create_payload_index(collection, name, qm.PayloadSchemaType.KEYWORD)
        return cls(client, collection, dense=bool(dim))

    @classmethod
    def open(cls, client: QdrantClient, collection: str, dense: bool) -> ServerStore:
        with _errors(client):
            names = {a.alias_name for a in client.get_aliases().aliases}
            names |= {c.name for c in client.get_collections().collections}
        if collection not in names:
            raise IndexMissingError(f"на сервере Qdrant нет коллекции {collection}")
        return cls(client, collection, dense)

    def upsert(self, points: list[Point]) -> None:
        for start in range(0, len(points), BATCH):
            batch = []
            for p in points[start : start + BATCH]:
                vector: dict[str, Any] = {SPARSE: qm.SparseVector(indices=p.sparse.indices,
                                                                  values=p.sparse.values)}
                if p.dense is not None:
                    vector[DENSE] = p.dense
                batch.append(qm.PointStruct(id=p.id, vector=vector, payload=p.payload))
            with _errors(self._client):
                self._client.upsert(self.collection, points=batch, wait=True)

    def finish(self) -> None:
        """The server persists and optimises by itself."""

    def query(self, dense: list[float] | None, sparse: SparseVec, flt: SearchFilter, limit: int,
              weights: FusionWeights) -> list[Hit]:
        qfilter = server_filter(flt)
        sparse_query = qm.SparseVector(indices=sparse.indices, values=sparse.values)
        prefetch = []
        if sparse:
            prefetch.append(qm.Prefetch(query=sparse_query, using=SPARSE, limit=PREFETCH, filter=qfilter))
        if dense is not None and self.has_dense:
            prefetch.append(qm.Prefetch(query=dense, using=DENSE, limit=PREFETCH, filter=qfilter))
        if not prefetch:
            return []
        with _errors(self._client):
            if len(prefetch) == 1:
                one = prefetch[0]
                response = self._client.query_points(self.collection, query=one.query, using=one.using,
                                                     query_filter=qfilter, limit=limit, with_payload=True)
            else:
                fusion = qm.RrfQuery(rrf=qm.Rrf(k=RRF_K, weights=[weights.sparse, weights.dense]))
                response = self._client.query_points(self.collection, prefetch=prefetch, query=fusion,
                                                     query_filter=qfilter, limit=limit, with_payload=True)
        return [Hit(int(p.id), float(p.score), dict(p.payload or {})) for p in response.points]

    def count(self) -> int:
        with _errors(self._client):
            return int(self._client.count(self.collection, exact=True).count)

    def close(self) -> None:
        self._client.close()


class _errors:
    """Turn transport and HTTP errors into StoreUnavailableError with the server's address."""

    def __init__(self, client: QdrantClient) -> None:
        self._client = client

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, UnexpectedResponse | ResponseHandlingException | ConnectionError | TimeoutError):
            detail = str(exc).splitlines()[0][:200]
            raise StoreUnavailableError(f"сервер Qdrant не ответил как ожидалось: {detail}") from exc


def switch_alias(client: QdrantClient, alias: str, collection: str) -> str | None:
    """Point the alias at the new collection in one operation; return the previous collection."""
    previous = None
    with _errors(client):
        for item in client.get_aliases().aliases:
            if item.alias_name == alias:
                previous = item.collection_name
        ops: list[Any] = []
        if previous:
            ops.append(qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=alias)))
        ops.append(qm.CreateAliasOperation(create_alias=qm.CreateAlias(collection_name=collection,
                                                                      alias_name=alias)))
        client.update_collection_aliases(change_aliases_operations=ops)
    return previous


def drop_collections(client: QdrantClient, prefix: str, keep: set[str]) -> None:
    with _errors(client):
        for item in client.get_collections().collections:
            if item.name.startswith(prefix) and item.name not in keep:
                client.delete_collection(item.name)
