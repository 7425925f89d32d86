"""The decisions of a call, in one place: used by the live session and by the offline analysis.

``HintEngine`` holds what a playbook gives a call (search, the category detector, the cards and the
taxonomy), loaded once and shared by calls. ``CallCore`` is one call's state: it numbers the
utterances, runs the detector on the client's partial and final text, passes detections through the
hint policy (one hint per episode, cooldown), chooses the cards (the answer, then the closest case
study for the client's industry and pipeline), ticks the checklist on the manager's finals and
emits the events of ``assist.events``. The offline analysis feeds it finals only.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from assist.checklist import ChecklistTracker
from assist.detector import CategoryDetector, Detection
from assist.events import ChecklistTick, Event, HintFeedback, HintShown, PartialText, Speaker, UtteranceFinal
from assist.hints import Candidate, Hint, HintPolicy
from assist.transcript import Transcript, Utterance
from assist.wrapup import build_card
from knowledge.embeddings import Embedder, Vectors
from knowledge.engine import KnowledgeBase
from knowledge.search import Searcher
from knowledge.store import SearchFilter
from knowledge.taxonomy import default_taxonomy

# A phrase cut short misleads more than a whole one: a hint on partial text needs the same category on
# PARTIAL_AGREE partials in a row (each at the detector's own threshold), or one partial at
# PARTIAL_CONFIDENCE (above 1: never). The detector runs on every change of the partial text (a new
# word, or the recognizer revising the last one); it is cheap: the windows' vectors are cached.
# Dev calls (benchmarks/speech_to_hint.py): finals only recall 0.744, precision 0.674; one partial at 0.9
# recall 0.769, 0.577 (from partials 0.667); two agreeing partials recall 0.846, 0.660 (from partials 0.744).
PARTIAL_CONFIDENCE = 1.01
PARTIAL_AGREE = 2
CARD_CACHE = 512  # card choices kept per engine (category, evidence, industry, pipeline)
ENCODE_CACHE = 4096  # sentence vectors kept per engine (windows of the client's partial text repeat)
ENCODE_CACHE_BATCH = 32  # larger batches (training) pass through uncached


@dataclass
class CardChoice:
    card_id: str
    title: str
    say: str
    case_id: str | None


def choose_cards(searcher: Searcher, detection: Detection, industry: str | None = None,
                 pipeline: str | None = None) -> CardChoice:
    """The answer card for the category (the best match to the client's words), then a case study.

    The client's words are encoded once for both searches (the answer and the case study)."""
    vectors = searcher.vectors(detection.evidence, framed=False)
    answers = searcher.search_vectors(vectors, 1, SearchFilter(handles=detection.category, pipeline=pipeline))
    answer = answers[0] if answers else None
    card_id = answer.card_id if answer and answer.kind in ("objection", "signal") else detection.card_id
    cases = searcher.search_vectors(vectors, 1, SearchFilter(kind="case", handles=detection.category,
                                                             industry=industry))
    return CardChoice(card_id, answer.title if answer else "", answer.snippet if answer else "",
                      cases[0].card_id if cases else None)


class CachedEmbedder:
    """An embedder that remembers the vectors of short texts it encoded (LRU, thread-safe).

    On the live path the detector encodes every window of the client's partial text, and the text
    only grows: most windows were encoded at the previous partial. The card choice then encodes the
    detection's evidence, one of those windows. Large batches (training) pass through uncached."""

    def __init__(self, inner: Embedder, size: int = ENCODE_CACHE) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.size = size
        self._cache: OrderedDict[tuple[bool, str], Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def encode(self, texts: list[str], *, query: bool = False) -> Vectors:
        if len(texts) > ENCODE_CACHE_BATCH:
            return self.inner.encode(texts, query=query)
        out: list[Vectors | None] = []
        with self._lock:
            for text in texts:
                row = self._cache.get((query, text))
                if row is not None:
                    self._cache.move_to_end((query, text))
                out.append(row)
        missing = list(dict.fromkeys(t for t, row in zip(texts, out, strict=True) if row is None))
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = dict(zip(missing, self.inner.encode(missing, query=query), strict=True))
            with self._lock:
                for text, row in fresh.items():
                    self._cache[(query, text)] = row
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
            out = [fresh[t] if row is None else row for t, row in zip(texts, out, strict=True)]
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([row for row in out if row is not None]).astype(np.float32)


class HintEngine:
    """The playbook's parts a call needs, loaded once (the detector trains or loads its cached model).

    One ``CachedEmbedder`` serves the detector, the checklist and the card search; card choices are
    cached per (category, evidence, industry, pipeline)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.searcher = kb.searcher()
        self.cards = kb.playbook().cards
        self.taxonomy = default_taxonomy()
        raw = self.searcher.embedder
        self.embedder: Embedder | None = CachedEmbedder(raw) if raw is not None else None
        self.searcher.embedder = self.embedder
        self.detector = CategoryDetector(self.cards, self.embedder)
        if self.detector.model is not None and self.embedder is not None:
            self.detector.use_embedder(self.embedder)  # a model memoized by another engine keeps its own
        self._choices: OrderedDict[tuple[str, str, str, str | None, str | None], CardChoice] = OrderedDict()
        self._lock = threading.Lock()

    def choose(self, detection: Detection, industry: str | None = None, pipeline: str | None = None) -> CardChoice:
        """``choose_cards``, remembered: the same words of the same category give the same cards."""
        key = (detection.category, detection.card_id, detection.evidence, industry, pipeline)
        with self._lock:
            choice = self._choices.get(key)
            if choice is not None:
                self._choices.move_to_end(key)
                return choice
        choice = choose_cards(self.searcher, detection, industry, pipeline)
        with self._lock:
            self._choices[key] = choice
            while len(self._choices) > CARD_CACHE:
                self._choices.popitem(last=False)
        return choice


@dataclass
class _Open:
    """An utterance still going on (partial text so far)."""

    speaker: Speaker
    start: float
    text: str = ""
    detected: str = ""  # the partial text last given to the detector
    streak_category: str | None = None  # the category the last partials raised (below the bar for one partial)
    streak: int = 0  # how many partials in a row raised it


def _nothing(event: Event) -> None:
    pass


class CallCore:
    """One call's decisions. Feed it ``partial``/``final`` in the order they happen; it emits events.

    ``index`` numbers utterances as in the transcript contract (0-based, both speakers). A replayed
    transcript passes the file's own index; audio leaves it None and an index is given when an
    utterance begins (its first partial), so a hint raised on partial text already names it.
    """

    def __init__(self, engine: HintEngine, emit: Callable[[Event], None] = _nothing, *,
                 industry: str | None = None, pipeline: str | None = None,
                 partial_confidence: float = PARTIAL_CONFIDENCE, partial_agree: int = PARTIAL_AGREE) -> None:
        self.engine = engine
        self.partial_confidence = partial_confidence
        self.partial_agree = partial_agree  # 0: partials need ``partial_confidence`` alone
        self.emit = emit
        self.industry = industry
        self.pipeline = pipeline
        self.policy = HintPolicy()
        self.tracker = ChecklistTracker(engine.cards, engine.taxonomy, engine.searcher.embedder, pipeline)
        self.finals: list[Utterance] = []
        self._open: dict[int, _Open] = {}
        self._by_speaker: dict[str, int] = {}
        self._next_index = 0

    # --- utterances ---------------------------------------------------------------------------------

    def _index(self, speaker: Speaker, index: int | None, start: float) -> int:
        if index is None:
            index = self._by_speaker.get(speaker)
            if index is None:
                index = self._next_index
        self._next_index = max(self._next_index, index + 1)
        if index not in self._open:
            self._open[index] = _Open(speaker, start)
            self._by_speaker[speaker] = index
        return index

    def open_utterances(self) -> dict[int, tuple[Speaker, str, float]]:
        """Utterances still going on: index → (speaker, partial text so far, start)."""
        return {i: (u.speaker, u.text, u.start) for i, u in self._open.items()}

    def partial(self, speaker: Speaker, text: str, at: float, *, index: int | None = None,
                start: float | None = None, received: float | None = None, settled: bool = False) -> int:
        """Words recognised so far in an utterance still going on; returns its index. ``settled``: the
        speaker paused after these words, so they are judged like a finished phrase (no agreement of
        partials needed)."""
        received = time.perf_counter() if received is None else received
        i = self._index(speaker, index, at if start is None else start)
        current = self._open[i]
        current.text = text
        self.emit(PartialText(at, speaker, text))
        if speaker == "client" and text.strip() and settled:
            current.detected = text
            self._detect(i, text, current.start, at, received)
        elif speaker == "client" and text.strip() and text != current.detected:
            current.detected = text
            self._detect_partial(current, i, text, at, received)
        return i

    def _detect_partial(self, current: _Open, index: int, text: str, at: float, received: float) -> None:
        """A hint on partial text: very sure at once, or the same category on consecutive partials."""
        detection = self.engine.detector.detect(text)
        if detection is None:
            current.streak_category, current.streak = None, 0
            return
        if detection.category == current.streak_category:
            current.streak += 1
        else:
            current.streak_category, current.streak = detection.category, 1
        agreed = self.partial_agree > 0 and current.streak >= self.partial_agree
        if detection.confidence >= self.partial_confidence or agreed:
            self._raise(detection, index, text, current.start, at, received)

    def final(self, speaker: Speaker, text: str, start: float, end: float, at: float | None = None, *,
              index: int | None = None, received: float | None = None,
              words: tuple[tuple[str, float, float], ...] = ()) -> int:
        """A finished utterance; returns its index."""
        received = time.perf_counter() if received is None else received
        at = end if at is None else at
        i = self._index(speaker, index, start)
        self._open.pop(i, None)
        if self._by_speaker.get(speaker) == i:
            del self._by_speaker[speaker]
        utterance = Utterance(i, speaker, start, end, text)
        self.finals.append(utterance)
        self.emit(UtteranceFinal(at, i, speaker, start, end, text, words))
        if speaker == "manager":
            for tick in self.tracker.hear(i, end, text):
                self.emit(ChecklistTick(at, tick.step, i, tick.evidence))
        else:
            self._detect(i, text, start, at, received)
        return i

    def _detect(self, index: int, text: str, start: float, at: float, received: float) -> Hint | None:
        detection = self.engine.detector.detect(text)
        if detection is None:
            return None
        return self._raise(detection, index, text, start, at, received)

    def _raise(self, detection: Detection, index: int, text: str, start: float, at: float,
               received: float) -> Hint | None:
        """A detection through the hint policy; the card choice and the event when it is admitted."""
        candidate = Candidate(detection.category, detection.confidence, index, text, at)
        if not self.policy.admit(candidate):
            return None
        choice = self.engine.choose(detection, self.industry, self.pipeline)
        latency = (time.perf_counter() - received) * 1000
        hint = self.policy.add(Hint(0, detection.category, choice.card_id, choice.title, choice.say, choice.case_id,
                                    detection.confidence, index, text, start, at + latency / 1000, latency))
        self.emit(HintShown(hint.shown_at, hint.id, hint.category, hint.card_id, hint.title, hint.say, hint.case_id,
                            hint.confidence, index, text, start, latency))
        return hint

    # --- the manager's feedback and the result --------------------------------------------------------

    def feedback(self, hint_id: int, action: str, at: float) -> Hint:
        """Pin, dismiss or "helped" (``ValueError``/``KeyError`` for an unknown action or hint)."""
        hint = self.policy.feedback(hint_id, action, at)
        self.emit(HintFeedback(at, hint_id, action))
        return hint

    def transcript(self, call_id: str, *, path: Path | None = None, started_at: datetime | None = None,
                   direction: str = "", problems: list[str] | None = None) -> Transcript:
        """The call's finals as a transcript, in utterance order."""
        utterances = sorted(self.finals, key=lambda u: (u.index, u.start))
        return Transcript(path or Path(call_id), call_id, started_at, direction, utterances, list(problems or []))

    def result(self, transcript: Transcript) -> dict[str, Any]:
        """The analysis result of the contract: hints, checklist, the CRM card (wrap-up), problems."""
        objections = list(dict.fromkeys(h.category for h in self.policy.hints))
        card = build_card(transcript, objections, self.tracker.compliance(transcript.direction))
        return {
            "call_id": transcript.call_id,
            "hints": [h.to_json() for h in self.policy.hints],
            "checklist": self.tracker.state(),
            "card": card,
            "problems": transcript.problems,
        }
