"""The side panel: a narrow always-on-top window the manager glances at during a call.

Top to bottom: call timer and the two level meters (with a warning when the call channel is silent or
missing), hint cards (the line to say, large; the client's words and time, small; the case study a
click away; pin / dismiss / «Помогло»), the script checklist ticking itself, and the live transcript
with the two speakers told apart and the partial text as it comes.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication, QHideEvent, QMoveEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from assist.events import (
    CallEnded,
    CallStarted,
    ChannelProblem,
    ChecklistTick,
    Event,
    HintFeedback,
    HintShown,
    Levels,
    PartialText,
    SourceProblem,
    UtteranceFinal,
)
from desktop.app import style
from desktop.app.i18n import tr
from desktop.app.prefs import Prefs
from desktop.app.widgets import LevelMeter

PANEL_WIDTH = 380
MAX_UNPINNED = 3
HINTS_MIN_HEIGHT = 120  # the hints area shrinks to its cards (the transcript takes the rest) but not below
SILENT_DB = -55.0
SILENT_SECONDS = 20.0  # call seconds without client sound before the warning
MISSING_DB = -99.0
SNAP_PX = 32
STEP_SHORT = {  # the checklist in the panel: short names (the full step on hover)
    "greeting": "Приветствие", "company_intro": "Компания", "call_purpose": "Цель звонка",
    "need_discovery": "Потребность", "budget_question": "Бюджет", "decision_maker": "ЛПР",
    "timeline_question": "Сроки", "lead_source_question": "Источник", "value_presentation": "Ценность",
    "next_step": "Следующий шаг", "farewell": "Прощание",
}


def clock(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def speaker_label(speaker: str) -> str:
    return tr("Менеджер") if speaker == "manager" else tr("Клиент")


class HintCard(QFrame):
    action = Signal(int, str)  # hint id, "pin" / "dismiss" / "helped"
    open_card = Signal(str)

    def __init__(self, hint: HintShown, card: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hint = hint
        self.pinned = False
        self.setObjectName("hintCard")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(4)
        from knowledge.taxonomy import default_taxonomy

        head = QHBoxLayout()
        title = QLabel(tr(default_taxonomy().label(hint.category)))
        title.setObjectName("hintTitle")
        title.setWordWrap(True)
        head.addWidget(title, 1)
        self.dismiss_button = self._button("✕", tr("Убрать подсказку"), lambda: self._act("dismiss"))
        self.dismiss_button.setAutoRaise(True)
        head.addWidget(self.dismiss_button)
        layout.addLayout(head)
        say = hint.say or (card.say if card is not None else "") or hint.title or (card.title if card else "")
        self.say = QLabel(say)
        self.say.setObjectName("hintSay")
        self.say.setWordWrap(True)
        self.say.setProperty("content", True)
        self.say.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.say)
        evidence = QLabel(f"«{html.escape(hint.evidence)}» · {clock(hint.evidence_at)}")
        evidence.setObjectName("hintEvidence")
        evidence.setWordWrap(True)
        evidence.setProperty("content", True)
        layout.addWidget(evidence)
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        self.card_button = self._button(tr("Ответ"), tr("Открыть карточку ответа целиком"),
                                        lambda: self.open_card.emit(hint.card_id))
        buttons.addWidget(self.card_button)
        self.case_button = self._button(tr("Кейс"), tr("Открыть кейс для этого клиента"),
                                        lambda: self.open_card.emit(hint.case_id or ""))
        self.case_button.setVisible(bool(hint.case_id))
        buttons.addWidget(self.case_button)
        buttons.addStretch(1)
        self.pin_button = self._button(tr("Закрепить"), tr("Оставить подсказку на панели"), self._pin)
        self.pin_button.setCheckable(True)
        buttons.addWidget(self.pin_button)
        self.helped_button = self._button(tr("Помогло"), tr("Отметить, что подсказка помогла"),
                                          lambda: self._act("helped"))
        buttons.addWidget(self.helped_button)
        layout.addLayout(buttons)

    def _button(self, text: str, tip: str, slot: object) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAccessibleName(tip)
        button.clicked.connect(slot)
        return button

    def _pin(self) -> None:
        self.pinned = self.pin_button.isChecked()
        self.setProperty("pinned", "true" if self.pinned else "false")
        self.style().unpolish(self)
        self.style().polish(self)
        if self.pinned:
            self.action.emit(self.hint.hint_id, "pin")

    def _act(self, action: str) -> None:
        if action == "helped":
            self.helped_button.setEnabled(False)
            self.helped_button.setText(tr("Помогло ✓"))
        self.action.emit(self.hint.hint_id, action)


class SidePanel(QWidget):
    feedback = Signal(int, str)
    open_card = Signal(str)
    stop_requested = Signal()
    search_requested = Signal()

    def __init__(self, prefs: Prefs, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Tool | Qt.WindowType.WindowStaysOnTopHint)
        self.prefs = prefs
        self.setWindowTitle(tr("Суфлёр — панель звонка"))
        self.setObjectName("sidePanel")
        self.setMinimumWidth(300)
        self.hints: dict[int, HintCard] = {}
        self.steps: dict[str, QLabel] = {}
        self.step_help: dict[str, str] = {}
        self.card_lookup: Callable[[str], Any] = lambda _card_id: None  # playbook cards, set by the hub
        self.ticked: set[str] = set()
        self.finals = 0
        self.running = False
        self.call_id = ""
        self._call_at = 0.0  # last call time the engine told us
        self._wall_at = 0.0  # monotonic time when it did
        self.speed = 1.0
        self._client_heard_at = 0.0
        self._partials: dict[str, str] = {}
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._tick)
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(400)
        self._save_timer.timeout.connect(self._save_place)
        self._placed = False
        self.quitting = False

    # layout ------------------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(10, 10, 10, 10)
        root.setSpacing(6)
        top = QHBoxLayout()
        self.status = QLabel(tr("Ожидание звонка"))
        self.status.setObjectName("sectionTitle")
        top.addWidget(self.status, 1)
        self.timer_label = QLabel("00:00")
        self.timer_label.setObjectName("callTimer")
        self.timer_label.setAccessibleName(tr("Длительность звонка"))
        top.addWidget(self.timer_label)
        root.addLayout(top)

        meters = QGridLayout()
        meters.setHorizontalSpacing(8)
        meters.setVerticalSpacing(3)
        meters.addWidget(QLabel(tr("Микрофон")), 0, 0)
        self.manager_meter = LevelMeter()
        self.manager_meter.setAccessibleName(tr("Уровень микрофона"))
        meters.addWidget(self.manager_meter, 0, 1)
        meters.addWidget(QLabel(tr("Звонок")), 1, 0)
        self.client_meter = LevelMeter()
        self.client_meter.setAccessibleName(tr("Уровень звука звонка"))
        meters.addWidget(self.client_meter, 1, 1)
        meters.setColumnStretch(1, 1)
        root.addLayout(meters)
        self.meter_widgets = [w for i in range(meters.count()) if (cell := meters.itemAt(i)) is not None
                              and (w := cell.widget()) is not None]
        self.meters_note = QLabel(tr("Разбор записанного звонка: звук не нужен"))
        self.meters_note.setObjectName("hintEvidence")
        self.meters_note.hide()
        root.addWidget(self.meters_note)
        self.warning = QLabel()
        self.warning.setObjectName("channelWarning")
        self.warning.setWordWrap(True)
        self.warning.hide()
        root.addWidget(self.warning)

        hints_title = QLabel(tr("Подсказки"))
        hints_title.setObjectName("sectionTitle")
        root.addWidget(hints_title)
        self.hints_box = QWidget()
        self.hints_layout = QVBoxLayout(self.hints_box)
        self.hints_layout.setContentsMargins(0, 0, 0, 0)
        self.hints_layout.setSpacing(6)
        self.no_hints = QLabel(tr("Подсказка появится, когда клиент возразит или спросит о покупке."))
        self.no_hints.setObjectName("hintEvidence")
        self.no_hints.setWordWrap(True)
        self.hints_layout.addWidget(self.no_hints)
        self.hints_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(self.hints_box)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumHeight(HINTS_MIN_HEIGHT)
        self.hints_scroll = scroll
        root.addWidget(scroll, 3)

        check_title = QLabel(tr("Сценарий"))
        check_title.setObjectName("sectionTitle")
        root.addWidget(check_title)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(1)
        from knowledge.taxonomy import default_taxonomy

        for n, (step, label) in enumerate(default_taxonomy().checklist_steps.items()):
            item = QLabel(f"○ {tr(STEP_SHORT.get(step, label))}")
            item.setObjectName("stepTodo")
            item.setToolTip(tr(label))
            self.step_help[step] = tr(label)
            self.steps[step] = item
            grid.addWidget(item, n // 2, n % 2)
        root.addLayout(grid)

        talk_title = QLabel(tr("Разговор"))
        talk_title.setObjectName("sectionTitle")
        root.addWidget(talk_title)
        self.transcript = QTextBrowser()
        self.transcript.setProperty("content", True)
        self.transcript.document().setMaximumBlockCount(400)
        self.transcript.setMinimumHeight(120)
        self._follow = True
        bar = self.transcript.verticalScrollBar()
        bar.rangeChanged.connect(self._transcript_grew)
        bar.valueChanged.connect(self._transcript_scrolled)
        root.addWidget(self.transcript, 2)
        self.partial = QLabel()
        self.partial.setObjectName("partial")
        self.partial.setWordWrap(True)
        self.partial.setProperty("content", True)
        self.partial.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        root.addWidget(self.partial)

        bottom = QHBoxLayout()
        self.stop_button = QPushButton(tr("Завершить звонок"))
        self.stop_button.clicked.connect(self.stop_requested.emit)
        self.stop_button.setEnabled(False)
        bottom.addWidget(self.stop_button)
        search = QPushButton(tr("Поиск по плейбуку"))
        search.clicked.connect(self.search_requested.emit)
        bottom.addWidget(search)
        root.addLayout(bottom)

    # events ------------------------------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        if isinstance(event, CallStarted):
            self.start_call(event)
        elif isinstance(event, PartialText):
            self._partials[event.speaker] = event.text
            self._show_partials()
        elif isinstance(event, UtteranceFinal):
            self._partials.pop(event.speaker, None)
            self._show_partials()
            self._append(event)
        elif isinstance(event, HintShown):
            self.add_hint(event)
        elif isinstance(event, HintFeedback):
            if event.action == "dismiss":
                self.remove_hint(event.hint_id)
        elif isinstance(event, ChecklistTick):
            self.tick(event.step, event.words)
        elif isinstance(event, Levels):
            self._levels(event)
        elif isinstance(event, (ChannelProblem, SourceProblem)):
            self.show_warning(event.message)
        elif isinstance(event, CallEnded):
            self.end_call(event)
        self._sync_clock(event.at)

    def start_call(self, event: CallStarted) -> None:
        for hint_id in list(self.hints):
            self.remove_hint(hint_id)
        for step, label in self.steps.items():
            label.setText("○ " + label.text()[2:])
            label.setObjectName("stepTodo")
            label.setToolTip(self.step_help[step])
            self._repolish(label)
        self.ticked.clear()
        self.transcript.clear()
        self._follow = True
        self._partials.clear()
        self._show_partials()
        self.finals = 0
        self.warning.hide()
        self.call_id = event.call_id
        self.running = True
        replay = event.source.startswith("jsonl:")
        self.meters_note.setVisible(replay)
        for widget in self.meter_widgets:
            widget.setVisible(not replay)
        self._call_at = 0.0
        self._wall_at = time.monotonic()
        self._client_heard_at = 0.0
        self.status.setText(tr("Идёт звонок"))
        self.stop_button.setEnabled(True)
        self._timer.start()
        self._tick()

    def end_call(self, event: CallEnded) -> None:
        self.running = False
        self._timer.stop()
        self._partials.clear()
        self._show_partials()
        self.status.setText(tr("Звонок завершён"))
        self.stop_button.setEnabled(False)
        self.timer_label.setText(clock(event.at))

    def _append(self, event: UtteranceFinal) -> None:
        color = style.MANAGER if event.speaker == "manager" else style.CLIENT
        who = html.escape(speaker_label(event.speaker))
        self.transcript.append(
            f'<p style="margin:0 0 4px 0"><span style="color:{color};font-weight:600">{who}</span> '
            f'<span style="color:{style.MUTED}">{clock(event.start)}</span> '
            f'<span style="color:{color}">{html.escape(event.text)}</span></p>')
        self.finals += 1

    def _transcript_grew(self, _minimum: int, maximum: int) -> None:
        if self._follow:  # at the bottom: keep the newest words in view
            self.transcript.verticalScrollBar().setValue(maximum)

    def _transcript_scrolled(self, value: int) -> None:
        # the manager scrolled up to read: leave them there until they scroll back to the bottom
        self._follow = value >= self.transcript.verticalScrollBar().maximum() - 8

    def _show_partials(self) -> None:
        lines = [f"{speaker_label(s)}: {t}…" for s, t in self._partials.items() if t]
        self.partial.setText("\n".join(lines))
        self.partial.setVisible(bool(lines))

    def add_hint(self, hint: HintShown) -> None:
        card = HintCard(hint, self.card_lookup(hint.card_id))
        card.action.connect(self._on_hint_action)
        card.open_card.connect(self.open_card.emit)
        self.hints[hint.hint_id] = card
        self.no_hints.hide()
        self.hints_layout.insertWidget(0, card)  # newest on top
        unpinned = [c for c in self.hints.values() if not c.pinned]
        for old in unpinned[:-MAX_UNPINNED]:
            self.remove_hint(old.hint.hint_id)
        self._fit_hints()

    def remove_hint(self, hint_id: int) -> None:
        card = self.hints.pop(hint_id, None)
        if card is not None:
            self.hints_layout.removeWidget(card)
            card.hide()
            card.deleteLater()
        self.no_hints.setVisible(not self.hints)
        self._fit_hints()

    def _fit_hints(self) -> None:
        """The hints area as tall as its cards (no empty band above the checklist); the rest scrolls.

        Measured after the layout settled (a card just added has no size yet)."""
        QTimer.singleShot(0, self, self._fit_hints_now)

    def _fit_hints_now(self) -> None:
        scroll = self.hints_scroll
        width = max(scroll.width() - scroll.verticalScrollBar().sizeHint().width(), 200)
        layout = self.hints_layout
        needed = 0
        for i in range(layout.count()):
            item = layout.itemAt(i)
            widget = item.widget() if item is not None else None
            if widget is None or widget.isHidden():
                continue
            height = widget.heightForWidth(width) if widget.hasHeightForWidth() else -1
            needed += (height if height > 0 else widget.sizeHint().height()) + layout.spacing()
        self.hints_scroll.setMaximumHeight(max(needed + 16, HINTS_MIN_HEIGHT))  # + borders of the styled cards

    def _on_hint_action(self, hint_id: int, action: str) -> None:
        self.feedback.emit(hint_id, action)
        if action == "dismiss":
            self.remove_hint(hint_id)

    def tick(self, step: str, words: str) -> None:
        label = self.steps.get(step)
        if label is None or step in self.ticked:
            return
        self.ticked.add(step)
        label.setText("✓ " + label.text()[2:])
        label.setObjectName("stepDone")
        label.setToolTip(f"{self.step_help[step]}: «{words}»")
        self._repolish(label)

    def _levels(self, event: Levels) -> None:
        self.manager_meter.set_level(event.manager_dbfs)
        self.client_meter.set_level(event.client_dbfs)
        self.manager_meter.set_missing(event.manager_dbfs <= MISSING_DB)
        self.client_meter.set_missing(event.client_dbfs <= MISSING_DB)
        if event.client_dbfs > SILENT_DB:
            self._client_heard_at = event.at
        if event.client_dbfs <= MISSING_DB:
            self.show_warning(tr("Звук звонка не подключён: подсказки будут только по вашей речи. "
                                 "Выберите устройство в настройках."))
        elif self.running and event.at - self._client_heard_at > SILENT_SECONDS:
            self.show_warning(tr("Клиента не слышно уже {n} с: проверьте звук звонка.").format(
                n=int(event.at - self._client_heard_at)))
        elif self.warning.isVisible() and event.client_dbfs > SILENT_DB:
            self.warning.hide()

    def show_warning(self, message: str) -> None:
        self.warning.setText("⚠ " + message)
        self.warning.show()

    @staticmethod
    def _repolish(widget: QWidget) -> None:
        widget.style().unpolish(widget)
        widget.style().polish(widget)

    # the call clock ----------------------------------------------------------------------------------
    def _sync_clock(self, at: float) -> None:
        if self.running and at >= self._call_at:
            self._call_at = at
            self._wall_at = time.monotonic()

    def call_time(self) -> float:
        return self._call_at + (time.monotonic() - self._wall_at) * self.speed

    def _tick(self) -> None:
        self.timer_label.setText(clock(self.call_time()))

    # place on screen ---------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        if not self._placed:
            self._placed = True
            self.place()
        super().showEvent(event)

    def place(self) -> None:
        """The remembered place if it is still on a screen, otherwise docked to the right edge."""
        saved = self.prefs.geometry("panel")
        if saved is not None and self.restoreGeometry(saved) and self._on_screen(self.frameGeometry()):
            return
        screen = QGuiApplication.primaryScreen()
        if screen is None:
            self.resize(PANEL_WIDTH, 760)
            return
        area = screen.availableGeometry()
        height = min(area.height() - 40, 900)
        self.resize(PANEL_WIDTH, max(height, 500))
        self.move(area.right() - PANEL_WIDTH - 12, area.top() + 20)

    @staticmethod
    def _on_screen(rect: QRect) -> bool:
        return any(s.availableGeometry().intersects(rect) for s in QGuiApplication.screens())

    def snap(self) -> None:
        """Dock to the left or right edge of the screen when moved close to it."""
        screen = self.screen()
        if screen is None:
            return
        area = screen.availableGeometry()
        frame = self.frameGeometry()
        if abs(frame.left() - area.left()) < SNAP_PX:
            self.move(QPoint(area.left(), frame.top()))
            self.prefs.set_edge("left")
        elif abs(area.right() - frame.right()) < SNAP_PX:
            self.move(QPoint(area.right() - frame.width() + 1, frame.top()))
            self.prefs.set_edge("right")

    def _save_place(self) -> None:
        if self.isVisible():
            self.snap()
            self.prefs.set_geometry("panel", self.saveGeometry())

    def moveEvent(self, event: QMoveEvent) -> None:
        super().moveEvent(event)
        if self._placed:
            self._save_timer.start()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_hints()
        if self._placed:
            self._save_timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        self.prefs.set_geometry("panel", self.saveGeometry())
        super().hideEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # closing hides: the app lives in the tray
        if self.quitting:
            event.accept()
            return
        event.ignore()
        self.hide()
