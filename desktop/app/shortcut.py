"""The start/stop shortcut.

Qt has no system-wide hotkeys. Where the platform allows it (Windows, macOS with the accessibility
permission, Linux on X11) and the optional ``pynput`` package is installed, the shortcut is global; its
callback runs on pynput's thread and is re-posted through a Qt signal. Everywhere else (Wayland, which
forbids global key grabs, or without pynput) it works while a Sufler window has focus, and the tray menu
always has the same command.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget


def _pynput_combo(sequence: str) -> str:
    parts = [p.strip().lower() for p in sequence.split("+") if p.strip()]
    names = {"ctrl": "<ctrl>", "alt": "<alt>", "shift": "<shift>", "meta": "<cmd>"}
    return "+".join(names.get(p, p if len(p) == 1 else f"<{p}>") for p in parts)


class Shortcut(QObject):
    activated = Signal()

    def __init__(self, sequence: str) -> None:
        super().__init__()
        self.sequence = sequence
        self.global_ = False
        self._listener: Any = None
        self._local: list[QShortcut] = []
        self.reason = ""
        self._start_global()

    def _start_global(self) -> None:
        if os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
            self.reason = "wayland/offscreen"
            return
        try:
            keyboard = importlib.import_module("pynput.keyboard")
            self._listener = keyboard.GlobalHotKeys({_pynput_combo(self.sequence): self.activated.emit})
            self._listener.daemon = True
            self._listener.start()
            self.global_ = True
        except Exception as exc:  # no pynput, no X server access: fall back to window shortcuts
            self.reason = type(exc).__name__

    def attach(self, window: QWidget) -> None:
        """Also react while this window has focus (always, so it works without a global hook)."""
        shortcut = QShortcut(QKeySequence(self.sequence), window)
        shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        shortcut.activated.connect(self.activated.emit)
        self._local.append(shortcut)

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
