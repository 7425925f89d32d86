"""The tray app: the hub that builds every window and wires them to the engine.

The icon shows the state (idle, listening, loading, problem); the menu is rebuilt each time it opens.
Without a system tray (some Linux desktops, offscreen tests) the side panel is shown instead so the
app stays reachable.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QFileDialog, QMenu, QSystemTrayIcon

from assist.events import CallEnded
from desktop.app.bridge import GuiThreadCollector, qt_alive, run_in_background, wait_for_background
from desktop.app.engine import Engine, demo_calls
from desktop.app.i18n import tr
from desktop.app.icons import state_icon
from desktop.app.outbox import OutboxStatus
from desktop.app.panel import SidePanel
from desktop.app.prefs import Prefs
from desktop.app.shortcut import Shortcut

STATE_TEXT = {"idle": "Готов", "listening": "Слушаю звонок", "loading": "Загружаю плейбук и модели…",
              "problem": "Есть проблема"}
OUTBOX_POLL_MS = 30_000


class TrayApp(QObject):
    wrapup_opened = Signal(object)  # the dialog (for tests and screenshots)

    def __init__(self, app: QApplication, engine: Engine | None = None) -> None:
        super().__init__()
        self.app = app
        self.collector = GuiThreadCollector(self)  # Python's GC on this thread only: see bridge.py
        self._shut_down = False
        self.prefs = Prefs()
        self.engine = engine or Engine()
        self.outbox = OutboxStatus()
        self.panel = SidePanel(self.prefs)
        self.panel.card_lookup = lambda card_id: self.engine.cards.get(card_id)
        self.search: Any = None
        self.settings: Any = None
        self.wizard: Any = None
        self.wrapups: list[Any] = []
        self.tray = QSystemTrayIcon(state_icon("loading"))
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.tray.setContextMenu(self.menu)
        self.tray.activated.connect(self._activated)
        self.shortcut = Shortcut(self.prefs.shortcut)
        self.shortcut.activated.connect(self.toggle_listening)
        self.shortcut.attach(self.panel)
        self.engine.state_changed.connect(self._state)
        self.engine.session_event.connect(self.panel.handle)
        self.engine.call_ended.connect(self.open_wrapup)
        self.engine.message.connect(self._message)
        self.engine.ready.connect(self.collector.freeze)  # the loaded playbook and models: long-lived
        self.panel.feedback.connect(self.engine.feedback)
        self.panel.open_card.connect(self.show_card)
        self.panel.stop_requested.connect(self.engine.stop)
        self.panel.search_requested.connect(self.show_search)
        self._outbox_timer = QTimer(self)
        self._outbox_timer.setInterval(OUTBOX_POLL_MS)
        self._outbox_timer.timeout.connect(self.refresh_outbox)
        self._state(self.engine.state)

    # start ---------------------------------------------------------------------------------------------
    def start(self, *, first_run: bool | None = None) -> None:
        """Icon first, then the engine loads in the background."""
        from desktop.app.first_run import is_first_run

        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray.show()
        else:
            self.panel.show()
        self.engine.load()
        self._outbox_timer.start()
        QTimer.singleShot(0, self.refresh_outbox)
        if first_run if first_run is not None else is_first_run(self.prefs):
            QTimer.singleShot(0, self.show_first_run)

    def handle_request(self, request: str) -> None:
        """What a second start asked for (single instance)."""
        if request == "search":
            self.show_search()
        elif request == "settings":
            self.show_settings()
        else:
            self.show_panel()

    # menu ----------------------------------------------------------------------------------------------
    def rebuild_menu(self) -> None:
        menu = self.menu
        menu.clear()
        status = menu.addAction(tr(STATE_TEXT.get(self.engine.state, "")) if not self.engine.problem
                                else self.engine.problem)
        status.setEnabled(False)
        outbox = menu.addAction(self.outbox.describe())
        outbox.setEnabled(False)
        menu.addSeparator()
        listen = menu.addAction(tr("Остановить прослушивание") if self.engine.listening
                                else tr("Начать прослушивание"))
        listen.setShortcut(self.prefs.shortcut)
        listen.triggered.connect(self.toggle_listening)
        menu.addAction(tr("Показать панель"), self.show_panel)
        menu.addAction(tr("Поиск по плейбуку"), self.show_search)
        replay = menu.addMenu(tr("Разобрать звонок"))
        for title, path in demo_calls():
            action = QAction(title, replay)
            action.triggered.connect(lambda _c=False, p=path: self.replay(p, 1.0))
            replay.addAction(action)
        replay.addSeparator()
        replay.addAction(tr("Открыть расшифровку…"), self.open_transcript)
        menu.addAction(tr("Настройки"), self.show_settings)
        menu.addSeparator()
        menu.addAction(tr("Выход"), self.quit)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.show_panel()

    def _state(self, state: str) -> None:
        self.tray.setIcon(state_icon(state))
        tip = tr("Суфлёр") + " — " + (self.engine.problem if state == "problem" and self.engine.problem
                                       else tr(STATE_TEXT.get(state, "")))
        if self.outbox.level != "ok":
            tip += "\n" + self.outbox.describe()
        self.tray.setToolTip(tip)

    def _message(self, text: str) -> None:
        if self.tray.isVisible():
            self.tray.showMessage(tr("Суфлёр"), text, QSystemTrayIcon.MessageIcon.Information, 4000)
        if not self.panel.running:
            self.panel.status.setText(text)

    # actions -------------------------------------------------------------------------------------------
    def toggle_listening(self) -> None:
        if self.engine.listening:
            self.engine.stop()
        else:
            self.show_panel()
            self.engine.start_live()

    def replay(self, path: Path, speed: float = 1.0) -> None:
        self.panel.speed = speed
        self.show_panel()
        self.engine.start_replay(path, speed)

    def open_transcript(self) -> None:
        path, _ = QFileDialog.getOpenFileName(None, tr("Суфлёр — расшифровка звонка"), "", "JSONL (*.jsonl)")
        if path:
            self.replay(Path(path))

    def show_panel(self) -> None:
        self.panel.show()
        self.panel.raise_()
        self.panel.activateWindow()

    def show_search(self) -> Any:
        if self.search is None:
            from desktop.app.search_window import SearchWindow

            self.search = SearchWindow(self.engine, self.prefs)
            self.search.practice.connect(self.replay)
            self.shortcut.attach(self.search)
        self.search.show()
        self.search.raise_()
        self.search.activateWindow()
        return self.search

    def show_card(self, card_id: str) -> None:
        if card_id:
            self.show_search().show_card(card_id)

    def show_settings(self, tab: int = 0) -> Any:
        from desktop.app.settings_dialog import SettingsDialog

        if self.settings is None or not self.settings.isVisible():
            self.settings = SettingsDialog(self.prefs)
        self.settings.tabs.setCurrentIndex(tab)
        self.settings.show()
        self.settings.raise_()
        return self.settings

    def show_first_run(self) -> Any:
        from desktop.app.first_run import FirstRunWizard

        self.wizard = FirstRunWizard(self.prefs)
        self.wizard.demo.connect(self._first_demo)
        self.wizard.show()
        return self.wizard

    def _first_demo(self) -> None:
        calls = demo_calls()
        if calls:
            self.replay(calls[0][1], 2.0)

    def open_wrapup(self, event: CallEnded) -> Any:
        from desktop.app.wrapup_dialog import WrapUpDialog

        card = (event.summary or {}).get("card")
        if not isinstance(card, dict):
            return None
        dialog = WrapUpDialog(event.call_id, card, self.prefs.crm_kind)
        dialog.confirmed.connect(lambda *_a: self.refresh_outbox())
        dialog.finished.connect(lambda _r, d=dialog: self.wrapups.remove(d) if d in self.wrapups else None)
        self.wrapups.append(dialog)
        dialog.show()
        dialog.raise_()
        self.wrapup_opened.emit(dialog)
        return dialog

    def refresh_outbox(self) -> None:
        from desktop.app import outbox

        def done(status: OutboxStatus) -> None:
            self.outbox = status
            self._state(self.engine.state)

        run_in_background(outbox.status, done, lambda _e: None, name="sufler-outbox-status")

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Stop and join everything this hub started, close and delete its windows (GUI thread).

        After it no engine thread runs and no Qt object of the hub gets a call from one. Returns False
        if a thread was still running after ``timeout`` seconds.
        """
        if self._shut_down:
            return True
        self._shut_down = True
        self._outbox_timer.stop()
        self.shortcut.stop()
        engine = self.engine
        for signal, slot in ((engine.state_changed, self._state), (engine.session_event, self.panel.handle),
                             (engine.call_ended, self.open_wrapup), (engine.message, self._message),
                             (engine.ready, self.collector.freeze)):
            with contextlib.suppress(RuntimeError, TypeError):  # already gone
                signal.disconnect(slot)
        clean = engine.close(timeout)
        for window in [self.search, self.settings, self.wizard, *self.wrapups]:
            if window is not None and qt_alive(window):
                window.close()
                window.deleteLater()
        self.search = self.settings = self.wizard = None
        self.wrapups.clear()
        if qt_alive(self.panel):
            self.panel.quitting = True
            self.panel.close()
            self.panel.deleteLater()
        self.tray.hide()
        clean = wait_for_background(timeout) and clean  # outbox status, device lists...
        self.collector.stop()
        return clean

    def quit(self) -> None:
        self.shutdown(timeout=10.0)
        self.app.exit(0)  # quit() would ask every window to close first, and the panel only hides
