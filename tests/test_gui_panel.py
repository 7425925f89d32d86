"""The side panel and the tray hub, driven through real windows (offscreen)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from desktop.app.engine import DEMO_DIR, Engine

DEMO = DEMO_DIR / "demo-price.jsonl"


@pytest.fixture(autouse=True)
def gui_thread_guard(qapp: Any) -> Iterator[None]:
    """The app's rule for threads, in the tests too: Python's GC runs on the GUI thread only, and at the
    end every background job is joined, everything posted is delivered, everything deleted is deleted."""
    from PySide6.QtCore import QThreadPool

    from desktop.app.bridge import GuiThreadCollector, drain_gui_events, wait_for_background

    collector = GuiThreadCollector()
    yield
    drain_gui_events()
    assert wait_for_background(60.0), "a background job still runs after the test"
    QThreadPool.globalInstance().waitForDone()
    drain_gui_events()
    collector.stop()  # what the test left in cycles is collected here, on the GUI thread
    collector.deleteLater()
    drain_gui_events(1)


@pytest.fixture
def tray(qtbot: object, monkeypatch: pytest.MonkeyPatch, sufler_home: Path) -> Iterator[object]:
    from PySide6.QtWidgets import QApplication

    from desktop.app.i18n import set_language
    from desktop.app.tray import TrayApp

    monkeypatch.setenv("SUFLER_EMBEDDING__MODEL", "none")
    set_language("ru")
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    hub = TrayApp(app, Engine())
    hub.start(first_run=False)
    qtbot.waitUntil(lambda: hub.engine.is_ready, timeout=180_000)  # type: ignore[attr-defined]
    yield hub
    assert hub.shutdown(60.0), "a session or job of the hub still runs"


def test_replay_fills_panel_with_transcript_hints_and_ticks(qtbot: object, tray: object) -> None:
    from desktop.app.tray import TrayApp

    assert isinstance(tray, TrayApp)
    panel = tray.panel
    opened: list[object] = []
    tray.wrapup_opened.connect(opened.append)
    tray.replay(DEMO, 20.0)
    assert panel.isVisible()
    assert panel.windowTitle().startswith("Суфлёр")
    qtbot.waitUntil(lambda: panel.running, timeout=60_000)  # type: ignore[attr-defined]
    assert tray.engine.state == "listening"
    qtbot.waitUntil(lambda: bool(panel.partial.text()), timeout=60_000)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: bool(opened), timeout=90_000)  # type: ignore[attr-defined]
    text = panel.transcript.toPlainText()
    assert "Менеджер" in text and "Клиент" in text
    assert "это дорого у вас цены кусаются" in text
    assert panel.finals == 14
    categories = [card.hint.category for card in panel.hints.values()]
    assert "price_too_high" in categories
    assert {"greeting", "company_intro", "budget_question", "next_step"} <= panel.ticked
    assert panel.steps["greeting"].text().startswith("✓")
    assert not panel.running and tray.engine.state == "idle"
    assert panel.timer_label.text() >= "01:15"


def test_shutdown_mid_call_stops_and_joins_every_thread(qtbot: Any, tray: Any) -> None:
    import threading

    panel, engine = tray.panel, tray.engine
    tray.replay(DEMO, 1.0)  # real time: the call is far from over when the app quits
    qtbot.waitUntil(lambda: panel.running and panel.finals >= 1, timeout=60_000)
    assert any(t.name.startswith("call-") for t in threading.enumerate())
    assert tray.shutdown(30.0)
    alive = [t.name for t in threading.enumerate() if t.name.startswith(("call-", "sufler-"))]
    assert alive == []
    assert engine.kb is None and not engine.listening and engine.state == "idle"


def test_events_for_a_deleted_window_are_dropped(qtbot: Any) -> None:
    import threading

    from PySide6.QtWidgets import QLabel

    from assist.events import UtteranceFinal
    from desktop.app.bridge import EventBridge, drain_gui_events

    class Receiver(QLabel):
        def take(self, event: Any) -> None:
            self.setText(event.text)

    receiver = Receiver()
    bridge = EventBridge(receiver.take)

    def send(text: str) -> None:
        worker = threading.Thread(target=bridge, args=(UtteranceFinal(1.0, 0, "client", 0.0, 1.0, text),))
        worker.start()
        worker.join()

    send("раз")
    qtbot.waitUntil(lambda: receiver.text() == "раз", timeout=5000)
    receiver.deleteLater()
    drain_gui_events()
    send("два")  # the window is gone: dropped (calling it would raise "already deleted" in the slot)
    drain_gui_events()
    bridge.close()
    send("три")
    drain_gui_events()


def test_hint_cards_are_shown_whole_and_the_transcript_follows(qtbot: Any) -> None:
    from assist.events import CallStarted, HintShown, UtteranceFinal
    from desktop.app.panel import SidePanel
    from desktop.app.prefs import Prefs

    panel = SidePanel(Prefs())
    qtbot.addWidget(panel)
    panel.resize(380, 900)
    panel.show()
    panel.handle(CallStarted(0.0, "c", "", "jsonl:demo"))
    from desktop.app.panel import HINTS_MIN_HEIGHT

    qtbot.waitUntil(lambda: panel.hints_scroll.height() == HINTS_MIN_HEIGHT, timeout=3000)  # no hints: small
    say = "Понимаю. Давайте посмотрим, из чего складывается цена и что она вам сэкономит — дорого по сравнению с чем?"
    panel.handle(HintShown(2.0, 1, "price_too_high", "objection-price-value", "Дорого", say, "case-x", 0.9, 0,
                           "это дорого у вас цены кусаются", 1.0, 20.0))
    card = panel.hints[1]
    qtbot.waitUntil(lambda: panel.hints_scroll.viewport().height() >= card.height() > 100, timeout=3000)
    assert card.visibleRegion().boundingRect().height() == card.height()  # not cut by the scroll area
    assert not panel.hints_scroll.verticalScrollBar().isVisible()  # one card: nothing to scroll, nothing cut
    assert panel.hints_scroll.height() < 420  # and no empty band below it: the transcript gets the rest
    bar = panel.transcript.verticalScrollBar()

    def say(n: int) -> None:
        for i in range(n):  # in bursts, as events arrive from the engine, with the GUI running between them
            panel.handle(UtteranceFinal(3.0 + i, i, "client", 3.0 + i, 3.5 + i, f"реплика номер {i} " * 3))
            if i % 3 == 0:
                qtbot.wait(2)

    say(30)
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=3000)  # follows
    bar.setValue(0)  # the manager scrolls up to read
    say(5)
    qtbot.wait(50)
    assert bar.value() == 0  # left where they are
    bar.setValue(bar.maximum())
    say(5)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=3000)  # back at the bottom: follows again
