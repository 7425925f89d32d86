"""The live call session: a source's speech through the call core, events to listeners and the store.

``CallSession(kb, source, store=..., listeners=...)``; ``start()`` returns at once (a worker thread
loads the playbook parts, starts the source and runs the call), ``stop()`` ends the call (what was
already said is still processed), ``wait()`` joins it, ``feedback()`` records the manager's pin /
dismiss / "helped", ``result()`` is the analysis result of the contract once the call ended.

Every event goes first to the store (its own transaction: a crash loses nothing said before it),
then to the listeners, on the worker thread; ``Levels`` (10 per second) go to listeners only.
A listener or the store failing never stops the call.

Auto mode (``auto=True``): the session waits for speech on the call (client) channel before the call
starts, and ends it after ``silence_stop_s`` seconds without speech on both channels (default: the
setting ``speech.auto_stop_silence_seconds``, 30 s).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from assist.audio.errors import AudioError
from assist.call_store import CallStore, CallStoreError
from assist.events import (
    CallEnded,
    CallStarted,
    Event,
    Levels,
    Listener,
    SourceProblem,
)
from assist.session_core import CallCore, HintEngine
from assist.sources import CallSource, SourceError, SpeechEvent, Tick
from assist.transcript import TranscriptError
from assist.vosk_models import SpeechModelError
from knowledge.embeddings import EmbeddingModelError
from knowledge.engine import KnowledgeBase
from knowledge.playbook import PlaybookError
from knowledge.store import IndexError_

AUTO_STOP_SILENCE_S = 30.0  # the default of speech.auto_stop_silence_seconds
log = logging.getLogger(__name__)


def new_call_id() -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class CallSession:
    def __init__(self, kb: KnowledgeBase, source: CallSource, *, store: CallStore | None = None,
                 listeners: Sequence[Listener] = (), industry: str | None = None, pipeline: str | None = None,
                 engine: HintEngine | None = None, auto: bool = False,
                 silence_stop_s: float | None = None, call_id: str | None = None) -> None:
        self.kb = kb
        self.source = source
        self.store = store
        self.listeners = list(listeners)
        self.industry = industry
        self.pipeline = pipeline
        self.engine = engine
        self.auto = auto
        self.silence_stop_s = kb.settings.speech.auto_stop_silence_seconds if silence_stop_s is None \
            else silence_stop_s
        self.call_id = call_id or new_call_id()
        self.started_at = ""
        self.reason = ""
        self.error: str | None = None
        self.core: CallCore | None = None
        self._result: dict[str, Any] = {}
        self._begun = False
        self._pending: list[Event] = []  # problems seen before an auto call begins
        self._stop_reason: str | None = None
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._store_ok = store is not None

    # --- control -----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("сессия уже запущена")
        self._thread = threading.Thread(target=self._run, name=f"call-{self.call_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the call by hand (reason "stopped")."""
        if self._stop_reason is None:
            self._stop_reason = "stopped"
        self.source.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the call to end; False on timeout."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def feedback(self, hint_id: int, action: str) -> None:
        """The manager pinned, dismissed or marked a hint as helpful ("pin", "dismiss", "helped")."""
        with self._lock:
            if self.core is None:
                raise KeyError(f"подсказки {hint_id} нет: звонок ещё не начался")
            self.core.feedback(hint_id, action, self.source.now())

    def result(self) -> dict[str, Any]:
        """The analysis result of the contract once the call ended (empty before)."""
        return self._result

    # --- events ------------------------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        if not self._begun and not isinstance(event, Levels):
            self._pending.append(event)
        elif not isinstance(event, Levels):
            self._store(event)
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not end the call
                log.exception("listener failed on %s", event.type)

    def _store(self, event: Event) -> None:
        if self.store is None or not self._store_ok:
            return
        try:
            self.store.add(self.call_id, event)
        except CallStoreError as exc:
            self._store_ok = False  # report once, and the call goes on without the store
            problem = SourceProblem(event.at, f"{exc}; звонок продолжается без записи")
            for listener in self.listeners:
                try:
                    listener(problem)
                except Exception:
                    log.exception("listener failed on %s", problem.type)

    def _begin(self, at: float) -> None:
        started = self.source.started_at or datetime.now().astimezone()
        self.started_at = started.isoformat(timespec="seconds")
        if self.store is not None and self._store_ok:
            try:
                self.store.begin_call(self.call_id, self.source.name, started_at=self.started_at,
                                      name=self.source.call_id)
            except CallStoreError as exc:
                self._store_ok = False
                self._pending.append(SourceProblem(at, f"{exc}; звонок продолжается без записи"))
        self._begun = True
        self._emit(CallStarted(at, self.call_id, self.started_at, self.source.name))
        pending, self._pending = self._pending, []
        for event in pending:
            self._store(event)

    # --- the worker --------------------------------------------------------------------------------------

    def _run(self) -> None:
        reason = "end_of_source"
        last_speech = 0.0
        at = 0.0
        try:
            engine = self.engine or HintEngine(self.kb)
            self.engine = engine
            with self._lock:
                self.core = CallCore(engine, self._emit, industry=self.industry, pipeline=self.pipeline)
            if not self.auto:
                self._begin(0.0)
            for item in self.source.items():
                if self.auto and self._begun and item.at - last_speech >= self.silence_stop_s:
                    self._stop_reason = "silence"  # N seconds without speech on both channels
                    at = last_speech + self.silence_stop_s
                    self.source.stop()
                    break
                at = max(at, item.at)
                with self._lock:
                    if isinstance(item, SpeechEvent):
                        if not self._begun:
                            if item.speaker != "client":
                                continue  # auto mode: the call starts when the client speaks
                            self._begin(item.at)
                        last_speech = item.at
                        self._speech(self.core, item)
                    elif isinstance(item, Tick):
                        pass
                    else:
                        self._emit(item)
        except (SourceError, TranscriptError, AudioError, SpeechModelError, CallStoreError, PlaybookError,
                IndexError_, EmbeddingModelError) as exc:
            reason, self.error = "error", " ".join(str(exc).split("\n", 2)[:2])  # one line: a playbook, its 1st error
        except Exception as exc:  # the session must always end with CallEnded
            log.exception("call session failed")
            reason, self.error = "error", f"{type(exc).__name__}: {exc}"
        finally:
            self._end(self._stop_reason if reason != "error" and self._stop_reason else reason, at)

    def _speech(self, core: CallCore, item: SpeechEvent) -> None:
        if item.kind == "partial":
            core.partial(item.speaker, item.text, item.at, index=item.index, start=item.start,
                         received=item.received, settled=item.settled)
        else:
            core.final(item.speaker, item.text, item.start, item.end, item.at, index=item.index,
                       received=item.received, words=tuple((w.word, round(w.start, 3), round(w.end, 3))
                                                           for w in item.words))

    def _end(self, reason: str, at: float) -> None:
        with self._lock:
            if self.error is not None:
                if not self._begun:
                    self._begin(at)
                self._emit(SourceProblem(at, self.error))
            core = self.core
            result: dict[str, Any] = {"call_id": self.source.call_id or self.call_id, "hints": [], "checklist": {},
                                      "card": {}, "problems": list(self.source.problems)}
            if core is not None:
                for index, (speaker, text, start) in core.open_utterances().items():
                    if text:  # the call ended mid-phrase: keep the words heard so far
                        core.final(speaker, text, start, at, at, index=index)
                transcript = core.transcript(self.source.call_id or self.call_id, path=_path(self.source.name),
                                             started_at=self.source.started_at, direction=self.source.direction,
                                             problems=self.source.problems)
                try:
                    result = core.result(transcript)
                except Exception as exc:  # the wrap-up failing must not lose the call's events
                    log.exception("result failed")
                    result = {"call_id": transcript.call_id, "error": f"{type(exc).__name__}: {exc}"}
            result.update({"session_call_id": self.call_id, "source": self.source.name, "reason": reason})
            if self.error is not None:
                result["error"] = self.error
            self.reason = reason
            self._result = result
            if self._begun:
                self._emit(CallEnded(at, self.call_id, reason, result))
                if self.store is not None and self._store_ok:
                    try:
                        self.store.end_call(self.call_id, "error" if reason == "error" else "ended")
                    except CallStoreError as exc:
                        log.error("%s", exc)
            else:  # auto mode, nobody spoke: no call
                for listener in self.listeners:
                    try:
                        listener(CallEnded(at, self.call_id, reason, result))
                    except Exception:
                        log.exception("listener failed on CallEnded")


def _path(name: str) -> Path:
    kind, _, rest = name.partition(":")
    return Path(rest) if rest and kind in ("jsonl", "wav") else Path(name)


__all__ = ["AUTO_STOP_SILENCE_S", "CallSession", "new_call_id"]
