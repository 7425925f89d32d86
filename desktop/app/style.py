"""One calm, readable look for every window: Fusion with a light palette and a small style sheet."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#2b6cb0"
MANAGER = "#1d4f91"  # transcript colours: the two speakers told apart (and labelled)
CLIENT = "#8a3b12"
MUTED = "#5b6470"  # secondary text: still 5.9:1 on white
WARN_BG = "#fdecea"
WARN_FG = "#8e1c12"
LOW_CONF_BG = "#fff4d6"

SHEET = f"""
QWidget {{ font-size: 10pt; }}
QFrame#hintCard {{ background: #f3f7fc; border: 1px solid #c9d7ea; border-radius: 8px; }}
QFrame#hintCard[pinned="true"] {{ border: 2px solid {ACCENT}; }}
QLabel#hintSay {{ font-size: 14pt; font-weight: 600; color: #14202e; }}
QLabel#hintTitle {{ color: {MUTED}; font-size: 9pt; font-weight: 600; }}
QLabel#hintEvidence {{ color: {MUTED}; font-size: 9pt; }}
QLabel#channelWarning {{ background: {WARN_BG}; color: {WARN_FG}; border-radius: 6px; padding: 6px;
    font-weight: 600; }}
QLabel#callTimer {{ font-size: 16pt; font-weight: 600; color: #14202e; }}
QLabel#partial {{ color: {MUTED}; font-style: italic; }}
QLabel#sectionTitle {{ font-weight: 700; color: #14202e; margin-top: 4px; }}
QLabel#stepDone {{ color: #1f6b3a; }}
QLabel#stepTodo {{ color: {MUTED}; }}
QToolButton {{ padding: 3px 6px; }}
QListWidget#results::item:selected {{ background: #d6e4f5; border-left: 3px solid {ACCENT}; }}
QLineEdit#lowConfidence, QComboBox#lowConfidence, QPlainTextEdit#lowConfidence {{
    background: {LOW_CONF_BG}; }}
"""


def apply_style(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = app.palette()
    pal.setColor(QPalette.ColorRole.Window, QColor("#f7f8fa"))
    pal.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
    pal.setColor(QPalette.ColorRole.Text, QColor("#14202e"))
    pal.setColor(QPalette.ColorRole.WindowText, QColor("#14202e"))
    pal.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    pal.setColor(QPalette.ColorRole.ToolTipBase, QColor("#ffffff"))
    pal.setColor(QPalette.ColorRole.ToolTipText, QColor("#14202e"))
    app.setPalette(pal)
    app.setStyleSheet(SHEET)
