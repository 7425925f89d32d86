"""The engine as the GUI sees it: loads the playbook in the background, runs call sessions, searches.

Everything slow happens on worker threads (``run_in_background``, the session's own thread); results
and session events come back through Qt signals. ``state`` drives the tray icon:
"loading" → "idle" ↔ "listening", "problem" when loading failed or a channel is missing.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from assist.events import CallEnded, CallStarted, ChannelProblem, Event
from desktop.app.bridge import EventBridge, run_in_background, wait_for_background
from desktop.app.errors import user_message
from desktop.app.i18n import language, tr
from knowledge.settings import RESOURCES

DEMO_DIR = RESOURCES / "demo"


def demo_calls() -> list[tuple[str, Path]]:
    """(title, path) of the bundled demo calls, for practice and the first-run demo."""
    import json

    calls = []
    for path in sorted(DEMO_DIR.glob("*.jsonl")):
        try:
            header = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
            english = header.get("title_en") if language() == "en" else None
            title = str(english or header.get("title") or path.stem)
        except (OSError, ValueError, IndexError):
            continue
        calls.append((title, path))
    return calls


class Engine(QObject):
    state_changed = Signal(str)
    ready = Signal()
    session_event = Signal(object)  # every session event, on the GUI thread
    call_ended = Signal(object)  # CallEnded
    message = Signal(str)  # a plain line for the status bar / tray

    def __init__(self, settings: Any = None) -> None:
        super().__init__()
        self._settings = settings
        self.kb: Any = None
        self.cards: dict[str, Any] = {}
        self.industries: dict[str, str] = {}
        self.session: Any = None
        self.hint_engine: Any = None
        self.problem = ""
        self.search_lock = threading.Lock()  # one query at a time against the shared index
        self._state = "loading"
        self._pending: tuple[str, Path | None, float] | None = None
        self._bridge: EventBridge | None = None  # the current session's listener (closed when replaced)
        self._jobs: list[threading.Thread] = []  # this engine's background jobs: close() joins them
        self._sessions: set[Any] = set()  # sessions started and not yet joined (touched from workers)
        self._sessions_lock = threading.Lock()
        self._closed = False

    @property
    def state(self) -> str:
        return self._state

    @property
    def is_ready(self) -> bool:
        return self.kb is not None

    @property
    def listening(self) -> bool:
        return self.session is not None

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    # loading -------------------------------------------------------------------------------------------
    def load(self) -> None:
        self._set_state("loading")
        self._job(self._load, self._loaded, self._load_failed, name="sufler-load")

    def _load(self) -> tuple[Any, dict[str, Any], dict[str, str]]:
        from assist.session_core import HintEngine
        from knowledge.engine import KnowledgeBase
        from knowledge.settings import load_settings

        kb = KnowledgeBase(self._settings or load_settings())
        kb.searcher()
        playbook = kb.playbook()
        engine = HintEngine(kb)  # the detector is trained (or loaded from its cache) here, once
        # The checklist's classifier too: a call would otherwise train it on its own thread at its start,
        # and scikit-learn's fit holds the GIL for hundreds of milliseconds, freezing the panel mid-call.
        from assist.checklist import ChecklistTracker

        ChecklistTracker(engine.cards, engine.taxonomy, engine.searcher.embedder)
        import assist.call_store
        import assist.session
        import assist.sources
        import assist.wrapup  # noqa: F401  (imported here, not on the first call's thread)
        self.hint_engine = engine
        return kb, {c.id: c for c in playbook.cards}, dict(playbook.industries)

    def _loaded(self, value: tuple[Any, dict[str, Any], dict[str, str]]) -> None:
        if self._closed:  # closed while loading: nobody will use it
            value[0].close()
            return
        self.kb, self.cards, self.industries = value
        self.problem = ""
        self._set_state("idle")
        for notice in self.kb.notices:
            self.message.emit(notice.text)
        self.ready.emit()
        if self._pending is not None:
            kind, path, speed = self._pending
            self._pending = None
            if kind == "replay" and path is not None:
                self.start_replay(path, speed)
            else:
                self.start_live()

    def _load_failed(self, exc: BaseException) -> None:
        self.problem = user_message(exc)
        self._set_state("problem")
        self.message.emit(self.problem)

    # search (called on a worker thread) ------------------------------------------------------------------
    def search(self, query: str, limit: int, kind: str | None, pipeline: str | None,
               industry: str | None) -> list[Any]:
        from knowledge.store import SearchFilter

        with self.search_lock:  # close() takes it too: never a search on a closed index
            if self.kb is None:
                return []
            searcher = self.kb.searcher()
            return list(searcher.search(query, limit, SearchFilter(kind=kind, pipeline=pipeline, industry=industry)))

    # sessions ------------------------------------------------------------------------------------------
    def start_replay(self, path: Path, speed: float = 1.0) -> None:
        if self.kb is None:
            self._pending = ("replay", path, speed)
            self.message.emit(tr("Плейбук ещё загружается: звонок начнётся, как только он будет готов"))
            return
        self.stop()
        self.speed = speed
        kb, engine, bridge = self.kb, self.hint_engine, self._new_bridge()
        self._start(lambda: _replay_session(kb, path, speed, (bridge,), engine))

    def start_live(self) -> None:
        if self.kb is None:
            self._pending = ("live", None, 1.0)
            self.message.emit(tr("Плейбук ещё загружается: слушать начну, как только он будет готов"))
            return
        self.stop()
        self.speed = 1.0
        kb, engine, bridge = self.kb, self.hint_engine, self._new_bridge()
        self._start(lambda: _live_session(kb, (bridge,), engine))

    speed = 1.0

    def _new_bridge(self) -> EventBridge:
        """A listener for one session: events of a replaced or stopped session never reach the GUI."""
        if self._bridge is not None:
            self._bridge.close()
        self._bridge = EventBridge(self._on_event)
        return self._bridge

    def _job(self, fn: Any, on_done: Any = None, on_error: Any = None, name: str = "sufler-job") -> None:
        """A background job of this engine: ``close()`` waits for it."""
        self._jobs = [t for t in self._jobs if t.is_alive()]
        self._jobs.append(run_in_background(fn, on_done, on_error, name=name))

    def _start(self, factory: Any) -> None:
        marker = object()
        self.session = marker  # "starting": the menu shows Stop at once
        sessions, lock = self._sessions, self._sessions_lock

        def build() -> Any:
            session = factory()
            with lock:
                if self._closed:  # the app is closing: never start
                    return None
                sessions.add(session)  # close() can stop it even before ``started`` runs
            session.start()
            return session

        def started(session: Any) -> None:
            if session is None:
                return
            if self.session is marker:
                self.session = session
            else:  # stopped while starting
                self._job(lambda: self._stop_session(session), name="sufler-session-stop")

        def failed(exc: BaseException) -> None:
            if self.session is marker:
                self.session = None
            self.problem = user_message(exc)
            self._set_state("problem")
            self.message.emit(self.problem)

        self._set_state("listening")
        self._job(build, started, failed, name="sufler-session-start")

    def stop(self) -> None:
        session, self.session = self.session, None
        if session is not None and hasattr(session, "stop"):
            self._job(lambda: self._stop_session(session), name="sufler-session-stop")
        if self._state == "listening":
            self._set_state("idle")

    def _stop_session(self, session: Any, timeout: float = 5.0) -> bool:
        """Stop a session and join its thread (any thread)."""
        session.stop()
        ended = bool(session.wait(timeout))
        if ended:
            with self._sessions_lock:
                self._sessions.discard(session)
        return ended

    def feedback(self, hint_id: int, action: str) -> None:
        session = self.session
        if session is not None and hasattr(session, "feedback"):
            try:
                session.feedback(hint_id, action)
            except (KeyError, ValueError) as exc:  # the call already ended, or an unknown hint
                self.message.emit(str(exc))

    def _on_event(self, event: Event) -> None:
        if self._closed:
            return
        if isinstance(event, CallStarted):
            self._set_state("listening")
        elif isinstance(event, ChannelProblem):
            self._set_state("problem")
        self.session_event.emit(event)
        if isinstance(event, CallEnded):
            self.session = None
            with self._sessions_lock:
                self._sessions = {s for s in self._sessions if s.running}
            self._set_state("idle" if event.reason != "error" else "problem")
            self.call_ended.emit(event)

    def close(self, timeout: float = 30.0) -> bool:
        """Stop every session and join every thread this engine started, then close the playbook.

        Called on the GUI thread when the app quits (and by the tests). False if a thread was still
        running after ``timeout`` seconds; the playbook is then left open (a worker may still use it).
        """
        import time

        deadline = time.monotonic() + timeout
        with self._sessions_lock:
            self._closed = True
        self._pending = None
        if self._bridge is not None:
            self._bridge.close()
        self.session = None
        wait_for_background(max(deadline - time.monotonic(), 0.0), self._jobs)  # load, start, stop, search
        with self._sessions_lock:
            sessions = list(self._sessions)
        clean = all(self._stop_session(s, max(deadline - time.monotonic(), 0.1)) for s in sessions)
        clean = wait_for_background(max(deadline - time.monotonic(), 0.0), self._jobs) and clean
        if self._state == "listening":
            self._set_state("idle")
        if clean:
            with self.search_lock:
                if self.kb is not None:
                    self.kb.close()
                    self.kb = None
        return clean


def _store() -> Any:
    """The call store (calls, utterances, hints in sufler.db); the call goes on without it if it fails."""
    from assist.call_store import CallStore, CallStoreError

    try:
        return CallStore()
    except CallStoreError:
        return None


def _replay_session(kb: Any, path: Path, speed: float, listeners: tuple[Any, ...], engine: Any = None) -> Any:
    from assist.session import CallSession
    from assist.sources import TranscriptReplay

    return CallSession(kb, TranscriptReplay(path, speed), store=_store(), listeners=listeners, engine=engine)


def _live_session(kb: Any, listeners: tuple[Any, ...], engine: Any = None) -> Any:
    from assist.session import CallSession
    from assist.sources import LiveAudio

    return CallSession(kb, LiveAudio(), store=_store(), listeners=listeners, engine=engine)
