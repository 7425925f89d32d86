"""The tray icon, drawn with QPainter for each state (no image files to ship or scale)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

STATES = ("idle", "listening", "loading", "problem")
COLORS = {"idle": "#4a6785", "listening": "#1f8a4c", "loading": "#b7791f", "problem": "#c0392b"}


def _bubble(p: QPainter, size: int, color: QColor) -> None:
    s = float(size)
    path = QPainterPath()
    path.addRoundedRect(QRectF(s * 0.06, s * 0.08, s * 0.88, s * 0.66), s * 0.2, s * 0.2)
    tail = QPainterPath()
    tail.moveTo(QPointF(s * 0.26, s * 0.66))
    tail.lineTo(QPointF(s * 0.2, s * 0.94))
    tail.lineTo(QPointF(s * 0.5, s * 0.7))
    tail.closeSubpath()
    p.fillPath(path.united(tail), QBrush(color))


def state_pixmap(state: str, size: int = 64) -> QPixmap:
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    _bubble(p, size, QColor(COLORS.get(state, COLORS["idle"])))
    s = float(size)
    white = QPen(QColor("white"), max(2.0, s * 0.07), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
    p.setPen(white)
    cx, cy = s * 0.5, s * 0.41
    if state == "listening":  # sound waves
        for i, h in enumerate((0.12, 0.24, 0.16, 0.08)):
            x = s * (0.32 + 0.12 * i)
            p.drawLine(QPointF(x, cy - s * h), QPointF(x, cy + s * h))
    elif state == "loading":  # an open arc
        p.drawArc(QRectF(cx - s * 0.17, cy - s * 0.17, s * 0.34, s * 0.34), 90 * 16, -270 * 16)
    elif state == "problem":  # "!"
        p.drawLine(QPointF(cx, cy - s * 0.2), QPointF(cx, cy + s * 0.04))
        p.drawPoint(QPointF(cx, cy + s * 0.17))
    else:  # idle: three dots, "ready"
        p.setBrush(QColor("white"))
        p.setPen(Qt.PenStyle.NoPen)
        for i in (-1, 0, 1):
            p.drawEllipse(QPointF(cx + i * s * 0.19, cy), s * 0.06, s * 0.06)
    p.end()
    return pix


def state_icon(state: str) -> QIcon:
    icon = QIcon()
    for size in (16, 22, 32, 48, 64):
        icon.addPixmap(state_pixmap(state, size))
    return icon
