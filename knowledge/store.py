"""What the search needs from a vector store; two implementations share this shape:
Qdrant's embedded engine on disk (``store_edge``) and a Qdrant server by URL (``store_server``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from knowledge.sparse import SparseVec

DENSE = "dense"
SPARSE = "lemmas"
PAYLOAD_INDEXES = ("card_id", "kind", "pipelines", "industries", "handles", "part")
ANY_INDUSTRY = "any"
RRF_K = 10
PREFETCH = 60


class IndexError_(Exception):
    """Base of index failures (named with a trailing underscore to keep the builtin visible)."""


class IndexMissingError(IndexError_):
    """No index has been built yet."""


class IndexCorruptedError(IndexError_):
    """The index folder or collection exists but cannot be read."""


class StoreUnavailableError(IndexError_):
    """The Qdrant server cannot be reached or refused the request."""


@dataclass(frozen=True)
class SearchFilter:
    kind: str | None = None
    pipeline: str | None = None
    industry: str | None = None
    handles: str | None = None

    def is_empty(self) -> bool:
        return not (self.kind or self.pipeline or self.industry or self.handles)


@dataclass(frozen=True)
class Point:
    id: int
    dense: list[float] | None
    sparse: SparseVec
    payload: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    id: int
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class FusionWeights:
    sparse: float = 1.0
    dense: float = 1.0


class VectorStore(Protocol):
    def upsert(self, points: list[Point]) -> None: ...

    def finish(self) -> None:
        """Make everything written durable and optimised for queries."""
        ...

    def query(self, dense: list[float] | None, sparse: SparseVec, flt: SearchFilter, limit: int,
              weights: FusionWeights) -> list[Hit]: ...

    def count(self) -> int: ...

    def close(self) -> None: ...
