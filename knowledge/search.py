"""Playbook search: one query against the hybrid index, results grouped by card.

Used by ``sufler kb search``, the new-hire search window and the live detector. Chunks are
fused in the store (weighted RRF of lemma and dense results), then grouped: a card scores its best
chunk plus a small share of its next ones, so a card that matches in several places ranks above
one lucky phrase.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from knowledge.embeddings import Embedder
from knowledge.index import PlaybookIndex
from knowledge.sparse import QueryEncoder, SparseVec
from knowledge.store import FusionWeights, Hit, SearchFilter

SUPPORT_SHARE = 0.4
CHUNKS_PER_RESULT = 12


@dataclass
class SearchResult:
    card_id: str
    title: str
    kind: str
    handles: list[str]
    score: float
    snippet: str
    matched_part: str
    pipelines: list[str] = field(default_factory=list)
    industries: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"card_id": self.card_id, "title": self.title, "kind": self.kind,
                "handles": self.handles, "score": round(self.score, 4), "snippet": self.snippet,
                "matched": self.matched_part, "pipelines": self.pipelines, "industries": self.industries}


@dataclass
class QueryVectors:
    dense: list[float] | None
    sparse: SparseVec


class Searcher:
    def __init__(self, index: PlaybookIndex, embedder: Embedder | None,
                 weights: FusionWeights | None = None) -> None:
        self.index = index
        # An index built without dense vectors, or with another model, is searched on lemmas.
        usable = embedder is not None and index.meta.dim > 0 and embedder.model_id == index.meta.model_id
        self.embedder = embedder if usable else None
        self.weights = weights or FusionWeights()
        self.encoder = QueryEncoder(index.meta.vocabulary, index.meta.synonyms)

    @property
    def hybrid(self) -> bool:
        return self.embedder is not None

    def vectors(self, query: str, *, framed: bool = True) -> QueryVectors:
        dense = None
        if self.embedder is not None:
            dense = [float(x) for x in self.embedder.encode([query], query=True)[0]]
        return QueryVectors(dense, self.encoder.encode(query, framed=framed))

    def search(self, query: str, limit: int = 5, flt: SearchFilter | None = None, *,
               framed: bool = True) -> list[SearchResult]:
        """Best cards for a query. ``framed`` drops new-hire question words ("что ответить")."""
        if not query.strip() or limit <= 0:
            return []
        vectors = self.vectors(query, framed=framed)
        return self.search_vectors(vectors, limit, flt or SearchFilter())

    def search_vectors(self, vectors: QueryVectors, limit: int, flt: SearchFilter) -> list[SearchResult]:
        if not vectors.sparse and vectors.dense is None:
            return []
        hits = self.index.store.query(vectors.dense, vectors.sparse, flt, limit * CHUNKS_PER_RESULT,
                                      self.weights)
        return group_by_card(hits, limit)


def group_by_card(hits: list[Hit], limit: int) -> list[SearchResult]:
    per_card: dict[str, list[Hit]] = {}
    for hit in hits:
        per_card.setdefault(str(hit.payload.get("card_id", "")), []).append(hit)
    results = []
    for card_id, card_hits in per_card.items():
        card_hits.sort(key=lambda h: h.score, reverse=True)
        best = card_hits[0]
        score = best.score + SUPPORT_SHARE * sum(h.score for h in card_hits[1:3])
        payload = best.payload
        results.append(SearchResult(
            card_id=card_id, title=str(payload.get("title", "")), kind=str(payload.get("kind", "")),
            handles=list(payload.get("handles") or []), score=score,
            snippet=str(payload.get("snippet", "")), matched_part=str(payload.get("part", "")),
            pipelines=list(payload.get("pipelines") or []),
            industries=list(payload.get("industries") or [])))
    results.sort(key=lambda r: r.score, reverse=True)
    return results[:limit]
