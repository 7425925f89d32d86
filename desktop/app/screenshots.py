"""The screenshot tour (``--screenshots DIR``): panel mid-call, search, wrap-up, settings, as PNG files.

Driven by a polling timer on the GUI thread while a replay runs: nothing blocks. Exits the app with
code 0 when every picture is saved, 1 on timeout.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

TIMEOUT_S = 150.0
SEARCH_QUERY = "клиент говорит что дорого"


def save(widget: QWidget, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(path), "PNG")
    sys.stderr.write(f"screenshot: {path}\n")


class ScreenshotTour(QObject):
    def __init__(self, tray: Any, folder: Path) -> None:
        super().__init__()
        self.tray = tray
        self.folder = folder
        self.step = "panel"
        self.started = time.monotonic()
        self.wrapup: Any = None
        self.searched = False
        self.timer = QTimer(self)
        self.timer.setInterval(100)
        self.timer.timeout.connect(self.poll)
        tray.wrapup_opened.connect(self._wrapup)

    def start(self) -> None:
        self.timer.start()

    def _wrapup(self, dialog: Any) -> None:
        self.wrapup = dialog

    def poll(self) -> None:
        if time.monotonic() - self.started > TIMEOUT_S:
            sys.stderr.write(f"screenshot tour timed out at step {self.step}\n")
            QGuiApplication.exit(1)
            return
        panel = self.tray.panel
        if self.step == "panel" and len(panel.hints) >= 1 and len(panel.ticked) >= 4 and panel.partial.isVisible():
            save(panel, self.folder / "panel-mid-call.png")
            search = self.tray.show_search()
            search.searched.connect(self._searched)
            search.query.setText(SEARCH_QUERY)
            self.step = "search"
        elif self.step == "search" and self.searched:
            save(self.tray.search, self.folder / "search.png")
            self.step = "wrapup"
        elif self.step == "wrapup" and self.wrapup is not None:
            save(panel, self.folder / "panel-end.png")
            save(self.wrapup, self.folder / "wrapup.png")
            settings = self.tray.show_settings(0)
            QTimer.singleShot(300, lambda: self._settings(settings))
            self.step = "settings"

    def _searched(self, query: str, count: int) -> None:
        if query == SEARCH_QUERY and count:
            QTimer.singleShot(200, lambda: setattr(self, "searched", True))

    def _settings(self, settings: Any) -> None:
        save(settings, self.folder / "settings.png")
        # The whole screen as a manager sees it after a call: the panel at the edge, the wrap-up beside it.
        settings.hide()
        if self.tray.search is not None:
            self.tray.search.hide()
        panel, wrapup = self.tray.panel, self.wrapup
        if wrapup is not None:
            frame = panel.frameGeometry()
            wrapup.move(max(frame.left() - wrapup.frameGeometry().width() - 24, 0), frame.top() + 40)
            wrapup.raise_()
        QTimer.singleShot(400, self._desktop)

    def _desktop(self) -> None:
        screen = QGuiApplication.primaryScreen()
        if screen is not None:
            screen.grabWindow(0).save(str(self.folder / "desktop.png"), "PNG")
        self.timer.stop()
        self.tray.quit()
