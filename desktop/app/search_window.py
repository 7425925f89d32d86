"""Playbook search for new hires: results while typing, filters, the card from its Markdown, practice.

Typing restarts a short debounce timer; the query then runs on a worker thread, one at a time: while
one runs, only the newest waiting query is kept (stale ones are dropped). An empty query lists the
cards that fit the filters. "Practice" replays a demo call into the side panel.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.app import style
from desktop.app.bridge import run_in_background
from desktop.app.engine import Engine, demo_calls
from desktop.app.errors import user_message
from desktop.app.i18n import tr
from desktop.app.prefs import Prefs
from desktop.app.widgets import CardView

DEBOUNCE_MS = 120
LIMIT = 20
SPEEDS = (1.0, 2.0, 4.0)


class ResultList(QListWidget):
    """Results as small rich-text blocks (title in bold, kind, snippet) that re-wrap with the width."""

    def __init__(self) -> None:
        super().__init__()
        self.setSpacing(2)
        self.setObjectName("results")
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)

    def add_result(self, card_id: str, title: str, kind: str, snippet: str) -> None:
        label = QLabel(f"<b>{html.escape(title)}</b><br><span style='color:{style.MUTED}'>{html.escape(kind)}</span>"
                       + (f"<br>{html.escape(snippet)}" if snippet else ""))
        label.setWordWrap(True)
        label.setContentsMargins(6, 4, 6, 4)
        label.setProperty("content", True)
        label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        item = QListWidgetItem()
        item.setData(Qt.ItemDataRole.UserRole, card_id)
        item.setData(Qt.ItemDataRole.AccessibleTextRole, title)
        self.addItem(item)
        self.setItemWidget(item, label)
        self._fit(item, label)

    def _fit(self, item: QListWidgetItem, label: QWidget) -> None:
        width = max(self.viewport().width() - 8, 120)
        item.setSizeHint(QSize(width, label.heightForWidth(width)))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        for row in range(self.count()):
            item = self.item(row)
            label = self.itemWidget(item)
            if label is not None:
                self._fit(item, label)


class SearchWindow(QWidget):
    practice = Signal(object, float)  # demo call path, speed
    searched = Signal(str, int)  # query, number of results (for tests and the status line)

    def __init__(self, engine: Engine, prefs: Prefs, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.engine = engine
        self.prefs = prefs
        self.setWindowTitle(tr("Суфлёр — поиск по плейбуку"))
        self.setObjectName("searchWindow")
        self.results: list[Any] = []
        self._busy = False
        self._waiting: tuple[str, str | None, str | None, str | None] | None = None
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.run_query)
        self._build()
        engine.ready.connect(self._engine_ready)
        if engine.is_ready:
            self._engine_ready()
        saved = prefs.geometry("search")
        if saved is None or not self.restoreGeometry(saved):
            self.resize(980, 640)

    def _build(self) -> None:
        from knowledge.cards import KINDS
        from knowledge.taxonomy import default_taxonomy

        root = QVBoxLayout(self)
        self.query = QLineEdit()
        self.query.setPlaceholderText(tr("Что ответить клиенту? Например: «дорого» или «кейс для завода»"))
        self.query.setClearButtonEnabled(True)
        self.query.setAccessibleName(tr("Запрос"))
        self.query.textChanged.connect(lambda _text: self._debounce.start())
        root.addWidget(self.query)

        filters = QHBoxLayout()
        self.kind = QComboBox()
        self.kind.addItem(tr("Все типы"), None)
        for key, label in KINDS.items():
            self.kind.addItem(tr(label), key)
        self.pipeline = QComboBox()
        self.pipeline.addItem(tr("Все воронки"), None)
        for key, label in default_taxonomy().pipelines.items():
            self.pipeline.addItem(tr(label), key)
        self.industry = QComboBox()
        self.industry.setProperty("content", True)  # the playbook's own list
        self.industry.addItem(tr("Все отрасли"), None)
        for combo, name in ((self.kind, tr("Тип карточки")), (self.pipeline, tr("Воронка")),
                            (self.industry, tr("Отрасль"))):
            combo.setAccessibleName(name)
            combo.setToolTip(name)
            combo.currentIndexChanged.connect(lambda _i: self._debounce.start())
            filters.addWidget(combo, 1)
        root.addLayout(filters)

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.status = QLabel(tr("Плейбук загружается…"))
        self.status.setWordWrap(True)
        left_layout.addWidget(self.status)
        self.list = ResultList()
        self.list.setAccessibleName(tr("Найденные карточки"))
        self.list.currentRowChanged.connect(self._show_result)
        left_layout.addWidget(self.list, 1)
        split.addWidget(left)
        self.view = CardView()
        split.addWidget(self.view)
        split.setSizes([360, 620])
        root.addWidget(split, 1)

        box = QGroupBox(tr("Практика: разбор демо-звонка с подсказками на панели"))
        practice = QHBoxLayout(box)
        self.demo = QComboBox()
        self.demo.setProperty("content", True)  # titles of the demo calls
        for title, path in demo_calls():
            self.demo.addItem(title, str(path))
        practice.addWidget(self.demo, 2)
        self.speed = QComboBox()
        for speed in SPEEDS:
            self.speed.addItem(tr("скорость ×{n}").format(n=f"{speed:g}"), speed)
        self.speed.setCurrentIndex(1)
        self.speed.setAccessibleName(tr("Скорость разбора"))
        practice.addWidget(self.speed)
        self.practice_button = QPushButton(tr("Начать разбор"))
        self.practice_button.clicked.connect(self._practice)
        self.practice_button.setEnabled(self.demo.count() > 0)
        practice.addWidget(self.practice_button)
        root.addWidget(box)

    # engine --------------------------------------------------------------------------------------------
    def _engine_ready(self) -> None:
        current = self.industry.currentData()
        self.industry.blockSignals(True)
        while self.industry.count() > 1:
            self.industry.removeItem(1)
        for key, label in self.engine.industries.items():
            self.industry.addItem(label, key)
        index = self.industry.findData(current)
        self.industry.setCurrentIndex(max(index, 0))
        self.industry.blockSignals(False)
        self.run_query()

    # searching -----------------------------------------------------------------------------------------
    def request(self) -> tuple[str, str | None, str | None, str | None]:
        return (self.query.text().strip(), self.kind.currentData(), self.pipeline.currentData(),
                self.industry.currentData())

    def run_query(self) -> None:
        if not self.engine.is_ready:
            return
        request = self.request()
        if not request[0]:
            self._show(request, self._browse(request), browse=True)
            return
        if self._busy:
            self._waiting = request  # replaces any older waiting query
            return
        self._busy = True
        query, kind, pipeline, industry = request
        run_in_background(lambda: self.engine.search(query, LIMIT, kind, pipeline, industry),
                          lambda results: self._done(request, results), self._failed, name="sufler-search")

    def _browse(self, request: tuple[str, str | None, str | None, str | None]) -> list[Any]:
        _, kind, pipeline, industry = request
        cards = []
        for card in self.engine.cards.values():
            if kind and card.kind != kind:
                continue
            if pipeline and card.pipelines and pipeline not in card.pipelines:
                continue
            if industry and not card.fits_every_industry() and industry not in card.industries:
                continue
            cards.append(card)
        return sorted(cards, key=lambda c: (c.kind, c.title))

    def _done(self, request: tuple[str, str | None, str | None, str | None], results: list[Any]) -> None:
        self._busy = False
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            if waiting != request:
                self.run_query()
                return
        if request == self.request():
            self._show(request, results, browse=False)

    def _failed(self, exc: BaseException) -> None:
        self._busy = False
        self._waiting = None
        self.status.setText(user_message(exc))

    def _show(self, request: tuple[str, str | None, str | None, str | None], items: list[Any], *,
              browse: bool) -> None:
        from knowledge.cards import KINDS

        self.results = items
        self.list.blockSignals(True)
        self.list.clear()
        for item in items:
            self.list.add_result(item.id if browse else item.card_id, item.title,
                                 tr(KINDS.get(item.kind, item.kind)), "" if browse else item.snippet)
        self.list.blockSignals(False)
        if not items:
            self.status.setText(tr("Ничего не нашлось. Попробуйте другими словами или уберите фильтры."))
            self.view.clear()
        else:
            text = tr("Карточек: {n}") if browse else tr("Найдено: {n}")
            self.status.setText(text.format(n=len(items)))
            self.list.setCurrentRow(0)
            self._show_result(0)
        self.searched.emit(request[0], len(items))

    def _show_result(self, row: int) -> None:
        if row < 0 or row >= self.list.count():
            return
        card_id = str(self.list.item(row).data(Qt.ItemDataRole.UserRole))
        self.show_card(card_id)

    def show_card(self, card_id: str) -> None:
        card = self.engine.cards.get(card_id)
        if card is not None:
            self.view.show_card(card)

    # practice ------------------------------------------------------------------------------------------
    def _practice(self) -> None:
        path = self.demo.currentData()
        if path:
            self.practice.emit(Path(str(path)), float(self.speed.currentData()))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.prefs.set_geometry("search", self.saveGeometry())
        super().closeEvent(event)
