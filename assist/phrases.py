"""Matching spoken words against short example phrases, by meaning and by words at once.

Shared by the category detector (client phrases per category) and the checklist tracker
(manager lines per script step). A turn is cut into overlapping windows at two scales; each
window is scored against every phrase as a mix of:
- meaning: cosine similarity of sentence embeddings (when a model is loaded);
- words: the share of the phrase's lemma weight (IDF over all phrases) found in the window.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from knowledge.embeddings import Embedder
from knowledge.russian import lemmas, tokenize

WINDOW_SIZES = (5, 9)
DENSE_SHARE = 0.55  # weight of meaning vs words when a model is loaded
POLARITY_PENALTY = 0.6  # "решаю я" against "это не я решаю": same words, opposite meaning
NEG = "не_"

Scores = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Phrase:
    text: str
    label: str  # a category or a checklist step
    source: str = ""  # the card it comes from
    negative: bool = False  # a look-alike that must NOT raise the label


class PhraseMatcher:
    def __init__(self, phrases: list[Phrase], embedder: Embedder | None) -> None:
        self.phrases = phrases
        self.embedder = embedder
        lemma_sets = [set(lemmas(p.text)) for p in phrases]
        doc_freq: Counter[str] = Counter()
        for lemma_set in lemma_sets:
            doc_freq.update(lemma_set)
        n = max(len(phrases), 1)
        idf = {lem: math.log(1 + n / df) for lem, df in doc_freq.items()}
        self._weights = [{lem: idf[lem] for lem in s} for s in lemma_sets]
        self._lemma_sets = lemma_sets
        self._totals = [sum(w.values()) for w in self._weights]
        self._vectors = embedder.encode([p.text for p in phrases]) if embedder is not None and phrases else None
        self.positive: dict[str, list[int]] = {}
        self.negative: dict[str, list[int]] = {}
        for j, phrase in enumerate(phrases):
            (self.negative if phrase.negative else self.positive).setdefault(phrase.label, []).append(j)

    @staticmethod
    def windows(text: str) -> list[str]:
        """Overlapping stretches of the turn at two scales: short ones match short phrases."""
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

    def _word_scores(self, window: str) -> Scores:
        found = set(lemmas(window))
        scores = np.zeros(len(self.phrases), dtype=np.float32)
        for i, weights in enumerate(self._weights):
            if self._totals[i]:
                scores[i] = sum(w for lem, w in weights.items() if lem in found) / self._totals[i]
        return scores

    def _polarity(self, window: str) -> Scores:
        """1 where window and phrase agree on negation, ``POLARITY_PENALTY`` where one negates a word
        the other affirms (sentence embeddings barely see the little word "не")."""
        found = set(lemmas(window))
        factors = np.ones(len(self.phrases), dtype=np.float32)
        for i, phrase_lemmas in enumerate(self._lemma_sets):
            for lem in phrase_lemmas:
                if lem.startswith(NEG):
                    base = lem[len(NEG):]
                    conflict = base in found and lem not in found
                else:
                    conflict = NEG + lem in found and NEG + lem not in phrase_lemmas
                if conflict:
                    factors[i] = POLARITY_PENALTY
                    break
        return factors

    def score(self, windows: list[str]) -> Scores:
        """A (windows × phrases) matrix of combined scores in [0, 1]."""
        words = np.vstack([self._word_scores(w) for w in windows])
        polarity = np.vstack([self._polarity(w) for w in windows])
        if self._vectors is None or self.embedder is None:
            return (words * polarity).astype(np.float32)
        dense = self.embedder.encode(windows) @ self._vectors.T
        out: Scores = ((DENSE_SHARE * dense + (1 - DENSE_SHARE) * words) * polarity).astype(np.float32)
        return out

    def label_score(self, row: Scores, label: str, top_k: int) -> tuple[float, int]:
        """The label's score in one window (half its best phrase, half the mean of its best
        ``top_k``: an exact phrase counts, and agreement of several counts more), and its best phrase."""
        ids = self.positive.get(label, [])
        if not ids:
            return -1.0, -1
        scores = row[ids]
        order = np.argsort(-scores)
        best = float(scores[order[0]])
        return 0.5 * best + 0.5 * float(np.mean(scores[order[:top_k]])), ids[int(order[0])]

    def negative_score(self, row: Scores, label: str) -> float:
        ids = self.negative.get(label, [])
        return max((float(row[j]) for j in ids), default=-1.0)
