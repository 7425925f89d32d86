"""The link between the engine's threads and the GUI thread.

Rules that keep Qt from crashing with threads (each one fixed a segfault):

- Worker threads never touch a QObject. Everything they report goes through ONE ``_Dispatcher`` that is
  created on the GUI thread on first use and lives until the process ends; it runs the delivered
  callable on the GUI thread. A window that closed meanwhile is simply not called (weak references,
  ``RuntimeError: ... already deleted`` swallowed).
- Worker threads never drop the last reference to a Python object that may hold a QObject: the job's
  function goes back to the GUI thread together with its result and is released there.
- Python's cyclic garbage collector only runs on the GUI thread (``GuiThreadCollector``): a cycle that
  holds a window, collected on a worker thread, destroys the window there, leaves its timers registered
  with the GUI thread's dispatcher and crashes the next event loop iteration (QTimerInfoList).
- Every background thread is tracked; ``wait_for_background`` joins them (window close, app quit, tests).
"""

from __future__ import annotations

import functools
import gc
import itertools
import threading
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

from assist.events import Event


class _Dispatcher(QObject):
    """Runs callables on the GUI thread; the only QObject worker threads ever emit on."""

    deliver = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.deliver.connect(self._run)

    @Slot(object)
    def _run(self, fn: Callable[[], None]) -> None:
        fn()


_dispatcher: _Dispatcher | None = None
_dispatcher_lock = threading.Lock()


def _gui_dispatcher() -> _Dispatcher:
    """The dispatcher (created on the GUI thread: the first call must come from there)."""
    global _dispatcher
    with _dispatcher_lock:
        if _dispatcher is None:
            app = QCoreApplication.instance()
            if app is None or QThread.currentThread() is not app.thread():
                raise RuntimeError("the GUI dispatcher must be created on the GUI thread, after QApplication")
            _dispatcher = _Dispatcher()
        return _dispatcher


def on_gui_thread() -> bool:
    app = QCoreApplication.instance()
    return app is not None and QThread.currentThread() is app.thread()


def call_in_gui(fn: Callable[[], None]) -> None:
    """Run ``fn`` on the GUI thread (queued; safe from any thread once the dispatcher exists)."""
    _gui_dispatcher().deliver.emit(fn)


def qt_alive(obj: Any) -> bool:
    """False for a Qt wrapper whose C++ object is gone."""
    try:
        from shiboken6 import Shiboken

        return not isinstance(obj, QObject) or Shiboken.isValid(obj)
    except ImportError:  # pragma: no cover - shiboken ships with PySide6
        return True


class EventBridge:
    """A session listener (called on the engine's thread) that hands events to the GUI thread.

    It holds its receiver weakly, so a call session that outlives the window or engine that started it
    keeps no Qt object alive, and ``close()`` makes it drop whatever is still in flight.
    """

    def __init__(self, receiver: Callable[[Event], None]) -> None:
        _gui_dispatcher()  # created here, on the GUI thread, before any worker can emit
        self._receiver: Callable[[], Callable[[Event], None] | None]
        if hasattr(receiver, "__self__") and hasattr(receiver, "__func__"):
            self._receiver = weakref.WeakMethod(receiver)
        else:
            self._receiver = lambda: receiver
        self.closed = False

    def __call__(self, event: Event) -> None:  # on the engine's thread: never blocks, never touches Qt
        if not self.closed:
            call_in_gui(lambda: self._deliver(event))

    def _deliver(self, event: Event) -> None:
        receiver = None if self.closed else self._receiver()
        if receiver is not None and qt_alive(getattr(receiver, "__self__", None)):
            receiver(event)

    def close(self) -> None:
        self.closed = True


_threads: set[threading.Thread] = set()
_threads_lock = threading.Lock()
_tokens = itertools.count(1)


def run_in_background(fn: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
                      on_error: Callable[[BaseException], None] | None = None,
                      name: str = "sufler-job") -> threading.Thread:
    """Run ``fn`` off the GUI thread; ``on_done(result)`` or ``on_error(exc)`` run on the GUI thread.

    Must be called from the GUI thread. Without ``on_error`` an exception goes to the report dialog
    through ``sys.excepthook``. A callback whose window was deleted meanwhile is skipped.
    """
    dispatcher = _gui_dispatcher()
    callbacks: dict[str, Any] = {"done": on_done, "error": on_error}
    box: list[Callable[[], Any]] = [fn]
    del fn
    token = next(_tokens)

    def finish(ok: bool, value: Any, job: Any) -> None:  # on the GUI thread
        del job  # the job's function (and what it captured) is released here, not on the worker
        callback = callbacks["done"] if ok else callbacks["error"]
        callbacks.clear()
        if callback is None:
            if not ok:
                _reraise(value)
            return
        if not qt_alive(getattr(callback, "__self__", None)):
            return
        try:
            callback(value)
        except RuntimeError as exc:  # the window that asked was closed meanwhile: nobody to tell
            if "already deleted" not in str(exc):
                raise

    def target() -> None:
        job = box.pop()
        try:
            result, ok = job(), True
        except Exception as exc:  # delivered to the GUI thread, shown there
            result, ok = exc, False
        dispatcher.deliver.emit(functools.partial(finish, ok, result, job))  # values, not the frame's cells
        del job, result
        with _threads_lock:
            _threads.discard(threading.current_thread())

    thread = threading.Thread(target=target, name=f"{name}-{token}", daemon=True)
    with _threads_lock:
        _threads.add(thread)
    thread.start()
    return thread


def background_threads() -> list[threading.Thread]:
    with _threads_lock:
        return [t for t in _threads if t.is_alive()]


def wait_for_background(timeout: float = 30.0, threads: list[threading.Thread] | None = None) -> bool:
    """Join the background jobs (all of them, or ``threads``); False if one is still running at the end."""
    import time

    deadline = time.monotonic() + timeout
    for thread in background_threads() if threads is None else threads:
        if thread is not threading.current_thread():
            thread.join(max(deadline - time.monotonic(), 0.0))
    pending = background_threads() if threads is None else [t for t in threads if t.is_alive()]
    return not pending


def drain_gui_events(rounds: int = 3) -> None:
    """Deliver what the workers posted and delete what ``deleteLater`` marked (GUI thread only)."""
    from PySide6.QtCore import QEvent

    for _ in range(rounds):
        QCoreApplication.sendPostedEvents(None, 0)
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QCoreApplication.processEvents()


def _reraise(exc: BaseException) -> None:
    import sys

    sys.excepthook(type(exc), exc, exc.__traceback__)


class GuiThreadCollector(QObject):
    """Python's cyclic garbage collection on the GUI thread only (automatic collection is switched off).

    Checked every ``interval_ms`` with the interpreter's own thresholds; ``freeze()`` moves everything
    alive now (the loaded playbook, models, libraries) out of the collector's reach, so the full
    collections that still happen on the GUI thread stay short.
    """

    def __init__(self, parent: QObject | None = None, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        l0, l1, l2 = gc.get_count()
        t0, t1, t2 = gc.get_threshold()
        if l0 > t0:
            generation = 2 if l2 > t2 else 1 if l1 > t1 else 0
            gc.collect(generation)

    @staticmethod
    def freeze() -> None:
        """Everything alive now is long-lived (called once the playbook and models are loaded)."""
        gc.freeze()

    def stop(self) -> None:
        """Collect what is left here, on the GUI thread, and give collection back to the interpreter."""
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()
