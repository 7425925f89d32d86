"""Events of a live call session, as the engine emits them (to the panel, the CLI and the call store).

The session calls its listeners with these objects on its own worker thread; a listener must not
block (the desktop app re-posts them to the GUI thread through a Qt signal). Times are call times:
seconds from the call start. Every event has ``to_json()`` for the store and ``sufler replay``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Speaker = Literal["manager", "client"]


@dataclass(frozen=True)
class Event:
    at: float  # call time (seconds) when the engine emitted the event

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass(frozen=True)
class CallStarted(Event):
    call_id: str
    started_at: str  # ISO 8601 wall-clock start
    source: str  # "live", "wav:PATH", "jsonl:PATH"


@dataclass(frozen=True)
class PartialText(Event):
    """Words recognised so far in an utterance that is still going on (replaced by the next one)."""

    speaker: Speaker
    text: str


@dataclass(frozen=True)
class UtteranceFinal(Event):
    index: int  # 0-based among the call's utterances, both speakers
    speaker: Speaker
    start: float
    end: float
    text: str
    words: tuple[tuple[str, float, float], ...] = ()  # (word, start, end) call times, when the recognizer gave them


@dataclass(frozen=True)
class HintShown(Event):
    hint_id: int
    category: str
    card_id: str
    title: str
    say: str
    case_id: str | None
    confidence: float
    utterance: int  # index of the utterance whose words raised it (the current one when on partial text)
    evidence: str  # the client's words
    evidence_at: float
    latency_ms: float


@dataclass(frozen=True)
class HintFeedback(Event):
    hint_id: int
    action: str  # "pin", "dismiss", "helped"


@dataclass(frozen=True)
class ChecklistTick(Event):
    step: str
    utterance: int
    words: str  # the manager's words that did the step


@dataclass(frozen=True)
class Levels(Event):
    """Input levels for the meters (dBFS, -100 for silence or a missing channel)."""

    manager_dbfs: float
    client_dbfs: float


@dataclass(frozen=True)
class ChannelProblem(Event):
    speaker: Speaker
    message: str  # one plain Russian line: what is wrong and where


@dataclass(frozen=True)
class SourceProblem(Event):
    """Something wrong in the call's source that is not a channel: a transcript line that was skipped."""

    message: str  # one plain Russian line naming the file and line


@dataclass(frozen=True)
class CallEnded(Event):
    call_id: str
    reason: str  # "stopped", "silence", "end_of_source", "error"
    summary: dict[str, Any] = field(default_factory=dict)  # the analysis result of the contract


Listener = Callable[[Event], None]
