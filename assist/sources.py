"""Call sources: where a session's speech comes from, behind one small interface.

A source yields, in the order they happen, ``SpeechEvent``s (partial or final text of one speaker),
``Levels`` for the meters, ``ChannelProblem``s (a device missing, busy or gone: the call goes on with
the other channel), ``SourceProblem``s (a transcript line skipped) and ``Tick``s (the clock moving
while nobody speaks, for the auto-stop on silence). Times are call times: seconds from the start.

- ``TranscriptReplay``: a contract ``.jsonl`` replayed on its own timestamps (``speed`` 1 = real
  time, 4 = four times faster, None = as fast as possible); each utterance comes as growing word
  prefixes spread over its duration, as a recognizer shows them, then its final text.
- ``AudioCall``: any ``AudioSource`` through ``SpeechEngine`` (one vosk recognizer per channel, one
  shared model); ``WavCall`` (stereo: left manager, right client; or two mono files) and
  ``LiveAudio`` (the two capture devices of the settings) build one.
"""

from __future__ import annotations

import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from assist.audio.base import AudioSource
from assist.audio.errors import AudioError
from assist.events import ChannelProblem, Levels, SourceProblem, Speaker
from assist.speech import SpeechEngine, SpeechResult, Word, load_model
from assist.transcript import read_transcript
from assist.vosk_models import SpeechModelError

LEVEL_PERIOD = 0.1  # seconds between Levels events (10 Hz)
TICK_PERIOD = 0.1  # a replay waiting for its next line reports the clock this often
SILENCE_DBFS = -100.0
CHUNK_MS = 50  # audio fed to the recognizer at a time (live capture delivers 50 ms blocks too)
SILENCE_S = 0.3  # the app-side endpointer: quiet after speech that ends an utterance


class SourceError(Exception):
    """The source cannot run at all (no model, no device, unreadable file); one line for the user."""


@dataclass(frozen=True)
class SpeechEvent:
    kind: Literal["partial", "final"]
    speaker: Speaker
    text: str
    start: float  # call time of the utterance's first word (for partials: as far as known)
    end: float  # call time of the end of the words so far
    at: float  # call time when the source delivered it
    index: int | None = None  # the transcript's utterance index (replays); None: the session numbers them
    words: tuple[Word, ...] = ()
    received: float = field(default_factory=time.perf_counter)  # perf_counter() at delivery: latency origin
    settled: bool = False  # a partial repeated after a pause in speech (the phrase so far is complete)


@dataclass(frozen=True)
class Tick:
    at: float


SourceItem = SpeechEvent | Levels | ChannelProblem | SourceProblem | Tick


class CallSource(ABC):
    """Yields the call's items from ``items()`` (which starts it) until the end or ``stop()``."""

    name = "source"  # "jsonl:PATH", "wav:PATH", "live": the store's ``source`` column
    call_id: str | None = None  # the call's own id when the source has one (a transcript header)
    started_at: datetime | None = None
    direction = ""

    def __init__(self) -> None:
        self.t0 = time.monotonic()  # monotonic time of the call start (reset when items() starts)
        self.problems: list[str] = []  # one line each: skipped transcript lines, channels that failed
        self._stop = threading.Event()

    @abstractmethod
    def items(self) -> Iterator[SourceItem]:
        """Start and yield items; raises ``SourceError`` when the source cannot run at all."""

    def stop(self) -> None:
        """End the call: what was already said still comes out, then ``items()`` ends."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @abstractmethod
    def now(self) -> float:
        """The call time now."""


# --- transcripts ---------------------------------------------------------------------------------------

class TranscriptReplay(CallSource):
    """A contract transcript replayed on its own timestamps; a bad line is reported and skipped."""

    def __init__(self, path: str | Path, speed: float | None = 1.0) -> None:
        super().__init__()
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive (None: as fast as possible)")
        self.path = Path(path)
        self.speed = speed
        self.transcript = read_transcript(self.path)  # TranscriptError: missing file, no header
        self.name = f"jsonl:{self.path}"
        self.call_id = self.transcript.call_id
        self.started_at = self.transcript.started_at
        self.direction = self.transcript.direction
        self.problems = self.transcript.problems
        self._now = 0.0

    def schedule(self) -> list[tuple[float, SpeechEvent]]:
        """(call time, event) for every partial and final of the call, in time order."""
        out: list[tuple[float, int, SpeechEvent]] = []
        for u in self.transcript.utterances:
            speaker: Speaker = "manager" if u.speaker == "manager" else "client"
            words = u.text.split()
            span = u.end - u.start
            for i in range(1, len(words)):  # word i is heard by start + i/n of the utterance
                at = u.start + span * i / len(words)
                out.append((at, len(out), SpeechEvent("partial", speaker, " ".join(words[:i]), u.start, at, at,
                                                      u.index)))
            out.append((u.end, len(out), SpeechEvent("final", speaker, u.text, u.start, u.end, u.end, u.index)))
        out.sort(key=lambda x: (x[0], x[1]))
        return [(at, event) for at, _, event in out]

    def now(self) -> float:
        if self.speed is None:
            return self._now
        return (time.monotonic() - self.t0) * self.speed

    def items(self) -> Iterator[SourceItem]:
        self.t0 = time.monotonic()
        for problem in self.transcript.problems:
            yield SourceProblem(0.0, problem)
        for at, event in self.schedule():
            if self.speed is not None:
                while (delay := self.t0 + at / self.speed - time.monotonic()) > 0:
                    if self._stop.wait(min(delay, TICK_PERIOD)):
                        return
                    yield Tick(self.now())
            if self._stop.is_set():
                return
            self._now = max(self._now, at)
            yield SpeechEvent(event.kind, event.speaker, event.text, event.start, event.end, at, event.index)


# --- audio ---------------------------------------------------------------------------------------------

class AudioCall(CallSource):
    """An audio source recognised by vosk on both channels; ``model`` is a loaded vosk model or a folder
    (loaded when the call starts)."""

    def __init__(self, audio: AudioSource, model: Any, *, name: str = "audio", realtime: bool = True,
                 speed: float = 1.0, silence_s: float | None = SILENCE_S) -> None:
        super().__init__()
        self.audio = audio
        self.model = model
        self.name = name
        self.realtime = realtime
        self.speed = speed
        self.silence_s = silence_s
        self.engine: SpeechEngine | None = None
        self.skipped_partials = 0  # partials replaced by newer text before the session got to them
        self._audio_now = 0.0

    def now(self) -> float:
        if self.realtime:
            return (time.monotonic() - self.audio.t0) * self.speed
        return self._audio_now

    def stop(self) -> None:
        super().stop()
        self.audio.stop()  # the recognizers finish what they hold and emit their last finals

    def _load_model(self) -> Any:
        if isinstance(self.model, str | Path):
            from assist.vosk_models import resolve_model

            try:
                return load_model(resolve_model(str(self.model)))
            except SpeechModelError as exc:
                raise SourceError(str(exc)) from exc
        return self.model

    def items(self) -> Iterator[SourceItem]:
        model = self._load_model()
        # Word times in partial results trail the audio by ~1 s (see SpeechEngine): partial text only.
        engine = SpeechEngine(model, self.audio, silence_s=self.silence_s, partial_words=False)
        self.engine = engine
        try:
            engine.start()
        except AudioError as exc:
            for channel, message in self.audio.failures.items():
                self.problems.append(message)
                yield ChannelProblem(0.0, channel, message)
            raise SourceError(str(exc)) from exc
        self.t0 = self.audio.t0
        reported: set[str] = set()
        next_level = 0.0
        done = False
        while not done:
            batch: list[SpeechResult] = []
            first: SpeechResult | bool | None
            try:
                first = engine.results.get(timeout=LEVEL_PERIOD / 2)
            except queue.Empty:
                first = False  # nothing new: time for the levels
            while isinstance(first, SpeechResult):
                batch.append(first)
                try:
                    first = engine.results.get_nowait()  # whatever else came meanwhile
                except queue.Empty:
                    break
            done = first is None
            for result in self._coalesce(batch):
                self._audio_now = max(self._audio_now, result.t_audio_end)
                speaker: Speaker = result.channel
                yield SpeechEvent(result.kind, speaker, result.text, result.start, result.end, result.t_audio_end,
                                  None, result.words, result.received, result.reason == "pause")
            for channel, message in engine.failures.items():
                if channel not in reported:
                    reported.add(channel)
                    self.problems.append(message)
                    yield ChannelProblem(self.now(), channel, message)
            wall = time.monotonic()
            if wall >= next_level:
                next_level = wall + LEVEL_PERIOD
                yield Levels(self.now(), self._level("manager"), self._level("client"))
        for channel, message in engine.failures.items():
            if channel not in reported:
                self.problems.append(message)
                yield ChannelProblem(self.now(), channel, message)

    def _coalesce(self, batch: list[SpeechResult]) -> list[SpeechResult]:
        """Drop partials that a later result of the same channel already replaces: when the session
        falls behind (a slow detection), it goes on with the newest text instead of queueing."""
        out: list[SpeechResult] = []
        for n, result in enumerate(batch):
            if result.kind == "partial" and any(r.channel == result.channel for r in batch[n + 1:]):
                self.skipped_partials += 1
                continue
            out.append(result)
        return out

    def _level(self, channel: Speaker) -> float:
        if channel not in self.audio.channels or channel in self.audio.failures:
            return SILENCE_DBFS
        return self.audio.level(channel)


class WavCall(AudioCall):
    """A call from WAV files (stereo: left manager, right client; or two mono files), in real time at
    ``speed`` or as fast as possible (None). ``WavError`` at once when a file cannot be used."""

    def __init__(self, path: str | Path, client: str | Path | None = None, *, model: Any,
                 speed: float | None = 1.0, speaker: Speaker = "manager", chunk_ms: int = CHUNK_MS,
                 silence_s: float | None = SILENCE_S) -> None:
        from assist.audio.wav import WavFileSource

        audio = WavFileSource(path, client, speaker=speaker, realtime=speed is not None, speed=speed or 1.0,
                              chunk_ms=chunk_ms)
        super().__init__(audio, model, name=f"wav:{path}", realtime=speed is not None, speed=speed or 1.0,
                         silence_s=silence_s)


class LiveAudio(AudioCall):
    """The two capture devices (``speech.manager_device`` / ``speech.client_device`` in the settings)
    and the speech model of the settings, unless given."""

    def __init__(self, model: Any = None, manager: Any = "settings", client: Any = "settings") -> None:
        from assist.audio.devices import DeviceSpec
        from assist.audio.live import LiveSource
        from knowledge.settings import load_settings

        speech = load_settings().speech
        if manager == "settings":
            manager = DeviceSpec.parse(speech.manager_device, "manager")
        if client == "settings":
            client = DeviceSpec.parse(speech.client_device, "client")
        super().__init__(LiveSource(manager, client), model if model is not None else speech.model, name="live")
