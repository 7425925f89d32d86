"""Small shared widgets: the level meter and the Markdown card view."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QTextBrowser, QWidget

from desktop.app.i18n import tr

FLOOR_DB = -60.0


class LevelMeter(QWidget):
    """A horizontal input meter in dBFS (-60..0); red-outlined when the channel is missing."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db = -100.0
        self.missing = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(60)

    def sizeHint(self) -> QSize:
        return QSize(120, 10)

    def set_level(self, db: float) -> None:
        if abs(db - self.db) >= 0.5:
            self.db = db
            self.update()

    def set_missing(self, missing: bool) -> None:
        if missing != self.missing:
            self.missing = missing
            self.update()

    def fraction(self) -> float:
        return min(max((self.db - FLOOR_DB) / -FLOOR_DB, 0.0), 1.0)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QColor("#c0392b") if self.missing else QColor("#aab3bf"))
        p.setBrush(QColor("#eef1f5"))
        p.drawRoundedRect(r, 4, 4)
        f = self.fraction()
        if f > 0:
            color = "#1f8a4c" if self.db < -6 else "#c77c02"
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(color))
            p.drawRoundedRect(QRectF(r.x() + 1, r.y() + 1, (r.width() - 2) * f, r.height() - 2), 3, 3)
        p.end()


def card_markdown(card: Any) -> str:
    """A playbook card as Markdown: title, the line to say, the body, where it fits."""
    from knowledge.cards import KINDS

    parts = [f"# {card.title}", f"*{tr(KINDS.get(card.kind, card.kind))}*"]
    if card.say:
        parts.append(f"> **{tr('Скажите')}:** {card.say}")
    if getattr(card, "client", ""):
        parts.append(f"**{tr('Клиент')}:** {card.client}")
    parts.append(card.body.strip())
    if getattr(card, "result", ""):
        parts.append(f"**{tr('Результат')}:** {card.result}")
    return "\n\n".join(p for p in parts if p)


class CardView(QTextBrowser):
    """A card rendered from its Markdown (playbook content: not translated)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(False)
        self.setProperty("content", True)
        self.document().setDocumentMargin(10)

    def show_card(self, card: Any) -> None:
        self.setMarkdown(card_markdown(card))
