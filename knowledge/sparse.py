"""Sparse lemma vectors for BM25-style scoring in Qdrant.

Documents carry the BM25 term-frequency part (saturation ``k1``, length normalisation ``b``);
the store applies IDF itself (Qdrant's ``Modifier.Idf``), so adding cards never needs the whole
index re-weighted. Term ids are a stable hash of the lemma, so the query side needs no vocabulary;
the vocabulary is still kept to repair recognition slips ("дарого" -> "дорого").
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from knowledge.russian import lemmas, query_lemmas

K1 = 1.2
B = 0.75
FUZZY_MIN_LEN = 4
FUZZY_CUTOFF = 80.0
FUZZY_WEIGHT = 0.7
SYNONYM_WEIGHT = 0.5


@dataclass(frozen=True)
class SparseVec:
    indices: list[int]
    values: list[float]

    def __bool__(self) -> bool:
        return bool(self.indices)


def term_id(lemma: str) -> int:
    return zlib.crc32(lemma.encode("utf-8")) & 0x7FFFFFFF


def document_terms(text: str) -> Counter[str]:
    return Counter(lemmas(text))


def bm25_document(terms: Counter[str], avgdl: float) -> SparseVec:
    length = sum(terms.values())
    norm = K1 * (1 - B + B * length / max(avgdl, 1e-6))
    by_id: dict[int, float] = {}
    for lemma, tf in terms.items():
        tid = term_id(lemma)
        by_id[tid] = by_id.get(tid, 0.0) + tf * (K1 + 1) / (tf + norm)
    ids = sorted(by_id)
    return SparseVec(ids, [round(by_id[i], 5) for i in ids])


def lemma_groups(groups: Iterable[Iterable[str]]) -> list[list[str]]:
    """The playbook's synonym groups as lemmas (any word form may be written in playbook.yaml)."""
    out = []
    for group in groups:
        members = sorted({lem for word in group for lem in lemmas(word) if "_" not in lem})
        if len(members) > 1:
            out.append(members)
    return out


class QueryEncoder:
    """Query lemmas to a sparse vector: unknown lemmas are matched to the index vocabulary
    (recognition slips), and the playbook's synonyms are added with a lower weight."""

    def __init__(self, vocabulary: Iterable[str], synonyms: Iterable[Iterable[str]] = ()) -> None:
        self.vocabulary = sorted(set(vocabulary))
        self._known = set(self.vocabulary)
        self._synonyms: dict[str, set[str]] = {}
        for group in synonyms:
            for member in group:
                self._synonyms.setdefault(member, set()).update(m for m in group if m != member)

    def terms(self, text: str, *, framed: bool = True) -> dict[str, float]:
        words = query_lemmas(text) if framed else lemmas(text)
        out: dict[str, float] = {}
        for lem in words:
            if lem in self._known or "_" in lem:
                out[lem] = max(out.get(lem, 0.0), 1.0)
                continue
            repaired = self._repair(lem)
            if repaired:
                out[repaired] = max(out.get(repaired, 0.0), FUZZY_WEIGHT)
            else:
                out[lem] = 1.0
        for lem in list(out):
            for other in self._synonyms.get(lem, ()):
                if other not in out:
                    out[other] = SYNONYM_WEIGHT * out[lem]
        return out

    def _repair(self, lem: str) -> str | None:
        if len(lem) < FUZZY_MIN_LEN or lem.isdigit() or not self.vocabulary:
            return None
        match = process.extractOne(lem, self.vocabulary, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        return str(match[0]) if match else None

    def encode(self, text: str, *, framed: bool = True) -> SparseVec:
        terms = self.terms(text, framed=framed)
        by_id: dict[int, float] = {}
        for lem, weight in terms.items():
            tid = term_id(lem)
            by_id[tid] = max(by_id.get(tid, 0.0), weight)
        ids = sorted(by_id)
        return SparseVec(ids, [by_id[i] for i in ids])
