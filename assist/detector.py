"""Which taxonomy category (if any) the client's words raise, with a confidence.

The playbook's answer cards say how clients voice each category (``triggers``) and, optionally,
look-alike phrases that are harmless (``exclude``: "я подумал и решил взять"). The detector
compares short windows of the client's words with every trigger phrase in two ways at once:
- meaning: cosine similarity of sentence embeddings (when a model is loaded);
- words: the share of the trigger's lemma weight (IDF) found in the window, with recognition slips
  repaired against the playbook vocabulary and negation kept ("не нужно").
A window fires when the combined score clears the threshold and beats every harmless look-alike.
Windows let a long turn carry its objection anywhere ("решение за мной ... а вот с деньгами беда").
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge.cards import Card
from knowledge.embeddings import Embedder
from knowledge.russian import lemmas, tokenize
from knowledge.settings import RESOURCES
from knowledge.taxonomy import Taxonomy

WINDOW_SIZES = (5, 9)
DENSE_SHARE = 0.55  # weight of meaning vs words when a model is loaded
THRESHOLD_HYBRID = 0.62
THRESHOLD_LEMMAS = 0.72
EXCLUDE_MARGIN = 0.0
NEUTRAL_MARGIN = 0.05  # how much closer to the category than to ordinary talk a window must be
TOP_K = 2  # a category scores the mean of its best K trigger matches: one lucky phrase is not enough
NEUTRAL = "_neutral"
NEUTRAL_PATH = RESOURCES / "detector" / "neutral.txt"


def neutral_phrases(path: Path = NEUTRAL_PATH) -> list[str]:
    """Ordinary client talk (greetings, answers, details): the background every hint must beat."""
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@dataclass(frozen=True)
class Prototype:
    text: str
    category: str
    card_id: str
    lemma_weights: dict[str, float]
    negative: bool = False


@dataclass(frozen=True)
class Detection:
    category: str
    confidence: float
    card_id: str  # the card whose trigger matched
    trigger: str
    evidence: str  # the client's words that matched
    elapsed_ms: float


class CategoryDetector:
    def __init__(self, cards: list[Card], taxonomy: Taxonomy, embedder: Embedder | None,
                 threshold: float | None = None, neutral: list[str] | None = None,
                 neutral_margin: float = NEUTRAL_MARGIN) -> None:
        self.taxonomy = taxonomy
        self.embedder = embedder
        self.threshold = threshold or (THRESHOLD_HYBRID if embedder else THRESHOLD_LEMMAS)
        answers = [c for c in cards if c.kind in ("objection", "signal") and c.handles]
        phrases: list[tuple[str, str, str, bool]] = []
        for card in answers:
            category = card.handles[0]
            phrases += [(t, category, card.id, False) for t in card.triggers]
            phrases += [(t, category, card.id, True) for t in _excludes(card)]
        phrases += [(t, NEUTRAL, "", True) for t in (neutral_phrases() if neutral is None else neutral)]
        self.neutral_margin = neutral_margin
        doc_freq: Counter[str] = Counter()
        lemma_sets = [set(lemmas(text)) for text, *_ in phrases]
        for lemma_set in lemma_sets:
            doc_freq.update(lemma_set)
        n = max(len(phrases), 1)
        self._idf = {lem: math.log(1 + n / df) for lem, df in doc_freq.items()}
        self._default_idf = math.log(1 + n)
        self.prototypes = [
            Prototype(text, cat, card_id, {lem: self._idf[lem] for lem in lemma_set}, negative)
            for (text, cat, card_id, negative), lemma_set in zip(phrases, lemma_sets, strict=True)
        ]
        self._vectors = (embedder.encode([p.text for p in self.prototypes])
                         if embedder is not None and self.prototypes else None)
        self._vocabulary = set(doc_freq)
        self._neutral_ids = [j for j, p in enumerate(self.prototypes) if p.category == NEUTRAL]
        self._exclude_ids: dict[str, list[int]] = {}
        self._positive_ids: dict[str, list[int]] = {}
        for j, p in enumerate(self.prototypes):
            if p.category != NEUTRAL:
                target = self._exclude_ids if p.negative else self._positive_ids
                target.setdefault(p.category, []).append(j)

    def _best_category(self, row: np.ndarray) -> tuple[str | None, float, int]:
        """The category whose best K trigger matches score highest (mean), and its best trigger."""
        best: tuple[str | None, float, int] = (None, -1.0, -1)
        for category, ids in self._positive_ids.items():
            scores = row[ids]
            order = np.argsort(-scores)
            top = float(np.mean(scores[order[:TOP_K]]))
            if top > best[1]:
                best = (category, top, ids[int(order[0])])
        return best

    def windows(self, text: str) -> list[str]:
        """Overlapping stretches of the turn at two scales: short ones match short triggers."""
        words = tokenize(text)
        out: list[str] = []
        for size in WINDOW_SIZES:
            if len(words) <= size:
                out.append(" ".join(words))
                break
            step = max(1, size // 2)
            starts = list(range(0, len(words) - size + 1, step))
            if starts[-1] != len(words) - size:
                starts.append(len(words) - size)
            out += [" ".join(words[i : i + size]) for i in starts]
        return list(dict.fromkeys(w for w in out if w))

    def _lemma_scores(self, window: str) -> np.ndarray:
        found = set(lemmas(window))
        scores = np.zeros(len(self.prototypes), dtype=np.float32)
        for i, proto in enumerate(self.prototypes):
            total = sum(proto.lemma_weights.values())
            if total:
                scores[i] = sum(w for lem, w in proto.lemma_weights.items() if lem in found) / total
        return scores

    def detect(self, text: str) -> Detection | None:
        """The strongest category in the text, or None when nothing clears the threshold."""
        started = time.perf_counter()
        windows = self.windows(text)
        if not windows or not self.prototypes:
            return None
        lemma_scores = np.vstack([self._lemma_scores(w) for w in windows])
        if self._vectors is not None and self.embedder is not None:
            dense = self.embedder.encode(windows) @ self._vectors.T
            combined = DENSE_SHARE * dense + (1 - DENSE_SHARE) * lemma_scores
        else:
            combined = lemma_scores
        best: Detection | None = None
        for w, window in enumerate(windows):
            row = combined[w]
            category, score, i = self._best_category(row)
            if category is None or score < self.threshold:
                continue
            background = max((float(row[j]) for j in self._neutral_ids), default=-1.0)
            if score < background + self.neutral_margin:
                continue
            look_alikes = self._exclude_ids.get(category, [])
            if look_alikes and max(float(row[j]) for j in look_alikes) >= score + EXCLUDE_MARGIN:
                continue
            if best is None or score > best.confidence:
                proto = self.prototypes[i]
                best = Detection(category, round(score, 3), proto.card_id, proto.text, window, 0.0)
        if best is None:
            return None
        return Detection(best.category, best.confidence, best.card_id, best.trigger, best.evidence,
                         (time.perf_counter() - started) * 1000)


def _excludes(card: Card) -> list[str]:
    value = card.raw.get("exclude") or []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
