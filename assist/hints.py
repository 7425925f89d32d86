"""The hint policy: which detections become hints on the panel.

- One hint per objection episode: while the client keeps talking about the same thing (the same
  category within ``EPISODE_SECONDS`` of its last mention, with no other hint in between) nothing
  is repeated.
- A cooldown between new hints, so the panel never flickers; a stronger detection of another
  category may still come through.
- At most ``MAX_VISIBLE`` hints are visible; pinned ones stay, the oldest unpinned one goes.
- Feedback (pin, dismiss, "помогло") is recorded on the hint with its time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EPISODE_SECONDS = 45.0
COOLDOWN_SECONDS = 3.0
COOLDOWN_OVERRIDE = 0.75  # confidence that breaks through the cooldown
MAX_VISIBLE = 3
FEEDBACK = ("pin", "dismiss", "helped")


@dataclass
class Hint:
    id: int
    category: str
    card_id: str
    title: str
    say: str
    case_id: str | None
    confidence: float
    utterance: int
    evidence: str  # the client's words
    evidence_at: float  # call time of those words (seconds)
    shown_at: float
    latency_ms: float
    pinned: bool = False
    dismissed: bool = False
    feedback: list[tuple[str, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"utterance": self.utterance, "category": self.category, "card_id": self.card_id,
                "at": round(self.shown_at, 2), "latency_ms": round(self.latency_ms, 1),
                "confidence": self.confidence, "title": self.title, "say": self.say, "case_id": self.case_id,
                "evidence": self.evidence, "evidence_at": round(self.evidence_at, 2)}


@dataclass
class Candidate:
    category: str
    confidence: float
    utterance: int
    evidence: str
    at: float


class HintPolicy:
    def __init__(self) -> None:
        self.hints: list[Hint] = []
        self._last_by_category: dict[str, float] = {}
        self._last_shown = -1e9
        self._next_id = 1

    def admit(self, candidate: Candidate) -> bool:
        """Whether a detection should become a new hint (and, if so, opens its episode)."""
        last = self._last_by_category.get(candidate.category)
        if last is not None and candidate.at - last < EPISODE_SECONDS:
            self._last_by_category[candidate.category] = candidate.at  # the episode goes on
            return False
        if candidate.at - self._last_shown < COOLDOWN_SECONDS and candidate.confidence < COOLDOWN_OVERRIDE:
            return False
        # A new subject closes the other episodes: a client who comes back to the price after talking
        # about delivery raises it anew, and the manager needs the hint again.
        self._last_by_category = {candidate.category: candidate.at}
        self._last_shown = candidate.at
        return True

    def add(self, hint: Hint) -> Hint:
        hint.id = self._next_id
        self._next_id += 1
        self.hints.append(hint)
        return hint

    def new_id(self) -> int:
        return self._next_id

    def visible(self) -> list[Hint]:
        shown = [h for h in self.hints if not h.dismissed]
        pinned = [h for h in shown if h.pinned]
        others = [h for h in shown if not h.pinned]
        room = max(MAX_VISIBLE - len(pinned), 0)
        return pinned + (others[-room:] if room else [])

    def feedback(self, hint_id: int, action: str, at: float) -> Hint:
        if action not in FEEDBACK:
            raise ValueError(f"неизвестное действие '{action}': {', '.join(FEEDBACK)}")
        hint = next((h for h in self.hints if h.id == hint_id), None)
        if hint is None:
            raise KeyError(f"подсказки {hint_id} нет")
        hint.feedback.append((action, at))
        if action == "pin":
            hint.pinned = True
        elif action == "dismiss":
            hint.dismissed = True
            hint.pinned = False
        return hint
