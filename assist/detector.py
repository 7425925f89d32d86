"""Which taxonomy category (if any) the client's words raise, with a confidence.

The playbook's answer cards say how clients voice each category (``triggers``) and, optionally,
look-alike phrases that are harmless (``exclude``: "я подумал и решил взять"). Ordinary client talk
(``resources/detector/neutral.txt``: greetings, answers, details) is the background every hint
must beat. A window of the client's words fires when its category's best trigger matches
(meaning + words, see ``assist.phrases``) clear the threshold, beat ordinary talk by a margin and
beat every harmless look-alike of that category.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from assist.phrases import Phrase, PhraseMatcher
from knowledge.cards import Card
from knowledge.embeddings import Embedder
from knowledge.settings import RESOURCES

THRESHOLD_HYBRID = 0.6
THRESHOLD_LEMMAS = 0.7
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
class Detection:
    category: str
    confidence: float
    card_id: str  # the card whose trigger matched
    trigger: str
    evidence: str  # the client's words that matched
    elapsed_ms: float


class CategoryDetector:
    def __init__(self, cards: list[Card], embedder: Embedder | None,
                 threshold: float | None = None, neutral: list[str] | None = None,
                 neutral_margin: float = NEUTRAL_MARGIN) -> None:
        self.threshold = threshold or (THRESHOLD_HYBRID if embedder else THRESHOLD_LEMMAS)
        self.neutral_margin = neutral_margin
        phrases: list[Phrase] = []
        for card in cards:
            if card.kind in ("objection", "signal") and card.handles:
                category = card.handles[0]
                phrases += [Phrase(t, category, card.id) for t in card.triggers]
                phrases += [Phrase(t, category, card.id, negative=True) for t in _excludes(card)]
        phrases += [Phrase(t, NEUTRAL, negative=True) for t in (neutral_phrases() if neutral is None else neutral)]
        self.matcher = PhraseMatcher(phrases, embedder)

    def detect(self, text: str) -> Detection | None:
        """The strongest category in the text, or None when nothing clears the threshold."""
        started = time.perf_counter()
        windows = self.matcher.windows(text)
        if not windows or not self.matcher.positive:
            return None
        scores = self.matcher.score(windows)
        best: tuple[float, str, int, str] | None = None
        for w, window in enumerate(windows):
            row = scores[w]
            ranked = [(*self.matcher.label_score(row, label, TOP_K), label) for label in self.matcher.positive]
            score, phrase_id, category = max(ranked)
            if score < self.threshold:
                continue
            if score < self.matcher.negative_score(row, NEUTRAL) + self.neutral_margin:
                continue
            if self.matcher.negative_score(row, category) >= score:
                continue
            if best is None or score > best[0]:
                best = (score, category, phrase_id, window)
        if best is None:
            return None
        score, category, phrase_id, window = best
        phrase = self.matcher.phrases[phrase_id]
        return Detection(category, round(score, 3), phrase.source, phrase.text, window,
                         (time.perf_counter() - started) * 1000)


def _excludes(card: Card) -> list[str]:
    value = card.raw.get("exclude") or []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
