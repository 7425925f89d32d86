"""Wrap-up: the CRM card the engine filled from the call, for the manager to check and send.

Every field is editable; its evidence (the words it came from) shows on hover; a field the engine was
not sure about is tinted and marked «?». «Отправить в CRM» puts the card into the outbox on a worker
thread; the outbox status (sent, retrying, needs attention) is shown at the bottom.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop.app import outbox
from desktop.app.bridge import run_in_background
from desktop.app.errors import user_message
from desktop.app.i18n import tr

LOW_CONFIDENCE = 0.6
FIELD_LABELS = {
    "contact_name": "Контакт", "company": "Компания", "phone": "Телефон", "email": "Почта", "city": "Город",
    "budget_rub": "Бюджет, ₽", "next_contact_date": "Следующий контакт", "pipeline": "Воронка",
    "lead_source": "Источник", "urgency": "Срочность", "decision_maker": "Говорили с ЛПР",
    "outcome": "Итог звонка", "refusal_reason": "Причина отказа", "objections": "Возражения",
    "summary": "Кратко о звонке", "compliance": "Выполнение сценария, %",
    "talk_ratio_manager": "Доля речи менеджера, %",
}
LEAD_SOURCES = {"cold": "Холодный звонок", "inbound": "Входящая заявка", "referral": "Рекомендация",
                "repeat": "Повторное обращение", "exhibition": "Выставка", "marketplace": "Маркетплейс",
                "other": "Другое"}
URGENCY = {"high": "Высокая", "medium": "Средняя", "low": "Низкая"}
REFUSALS = {"price": "Цена", "competitor": "Конкурент", "no_need": "Нет потребности", "no_budget": "Нет бюджета",
            "timing": "Не время", "terms": "Условия", "manager": "Работа менеджера", "other": "Другое"}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _choices(field: str) -> dict[str, str] | None:
    from knowledge.taxonomy import default_taxonomy

    tax = default_taxonomy()
    return {"pipeline": tax.pipelines, "lead_source": LEAD_SOURCES, "urgency": URGENCY, "outcome": tax.outcomes,
            "refusal_reason": REFUSALS, "decision_maker": {"true": "Да", "false": "Нет"}}.get(field)


class WrapUpDialog(QDialog):
    confirmed = Signal(str, object)  # call id, card

    def __init__(self, call_id: str, card: dict[str, Any], crm_kind: str = "amocrm",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.call_id = call_id
        self.crm_kind = crm_kind
        self.card = dict(card)
        self.evidence: dict[str, dict[str, Any]] = dict(card.get("evidence") or {})
        self.editors: dict[str, QWidget] = {}
        self.low: set[str] = set()
        self.setWindowTitle(tr("Суфлёр — карточка звонка"))
        self.setObjectName("wrapUpDialog")
        self.setModal(False)
        self._build()
        self.refresh_status()

    def _build(self) -> None:
        from knowledge.taxonomy import default_taxonomy

        root = QVBoxLayout(self)
        intro = QLabel(tr("Проверьте карточку: поля заполнены по словам из звонка. Наведите на поле, чтобы "
                          "увидеть, откуда оно взялось; поля с «?» стоит проверить."))
        intro.setWordWrap(True)
        root.addWidget(intro)
        form_host = QWidget()
        form = QFormLayout(form_host)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self.taxonomy = default_taxonomy()
        for field, label in FIELD_LABELS.items():
            editor = self._editor(field, self.card.get(field))
            self.editors[field] = editor
            caption = QLabel(tr(label))
            caption.setBuddy(editor)
            editor.setAccessibleName(tr(label))
            self._mark(field, caption, editor)
            form.addRow(caption, editor)
        scroll = QScrollArea()
        scroll.setWidget(form_host)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        root.addWidget(scroll, 1)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setObjectName("outboxStatus")
        root.addWidget(self.status)
        buttons = QHBoxLayout()
        self.send_button = QPushButton(tr("Отправить в CRM"))
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.send)
        self.draft_button = QPushButton(tr("Сохранить черновик"))
        self.draft_button.clicked.connect(self.save_draft)
        close = QPushButton(tr("Закрыть"))
        close.clicked.connect(self.reject)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.draft_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        root.addLayout(buttons)
        self.resize(720, 720)

    def _editor(self, field: str, value: Any) -> QWidget:
        choices = _choices(field)
        if choices is not None:
            combo = QComboBox()
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(18)
            combo.addItem("—", None)
            for key, label in choices.items():
                shown = tr(label)
                # a pipeline's label is a whole description («А. Транзакционные продажи: клиент знает…»):
                # its name in the list, the description on hover
                combo.addItem(shown.split(":", 1)[0] if field == "pipeline" else shown, key)
                combo.setItemData(combo.count() - 1, shown, Qt.ItemDataRole.ToolTipRole)
            wanted = None if value is None else str(value).lower() if isinstance(value, bool) else str(value)
            index = combo.findData(wanted)
            combo.setCurrentIndex(max(index, 0))
            return combo
        if field == "summary":
            text = QPlainTextEdit(str(value or ""))
            text.setProperty("content", True)
            text.setMinimumHeight(80)
            return text
        if field in ("compliance", "talk_ratio_manager"):
            spin = QDoubleSpinBox()
            spin.setRange(0, 100)
            spin.setDecimals(0)
            spin.setSuffix(" %")
            spin.setSpecialValueText("—")
            spin.setValue(round(float(value) * 100) if isinstance(value, (int, float)) else 0)
            return spin
        line = QLineEdit()
        line.setProperty("content", True)
        if field == "objections":
            labels = [tr(self.taxonomy.label(c)) for c in (value or [])]
            line.setText(", ".join(labels))
        elif value is not None:
            line.setText(str(value))
        if field == "budget_rub":
            line.setValidator(QRegularExpressionValidator(QRegularExpression(r"^[0-9 ]{0,15}$")))
            line.setPlaceholderText(tr("например, 500000"))
        elif field == "next_contact_date":
            line.setPlaceholderText(tr("ГГГГ-ММ-ДД"))
        elif field == "phone":
            line.setPlaceholderText("+7…")
        return line

    def _mark(self, field: str, caption: QLabel, editor: QWidget) -> None:
        ev = self.evidence.get(field) or {}
        tip = ""
        if ev.get("text"):
            tip = tr("Из звонка: «{text}»").format(text=ev["text"])
            if ev.get("utterance") is not None:
                tip += " " + tr("(реплика {n})").format(n=int(ev["utterance"]) + 1)
        confidence = ev.get("confidence")
        if isinstance(confidence, (int, float)) and confidence < LOW_CONFIDENCE and self.card.get(field) is not None:
            self.low.add(field)
            caption.setText(caption.text() + " ?")
            editor.setObjectName("lowConfidence")
            tip = (tip + "\n" if tip else "") + tr("Не уверен в этом поле ({p} %): проверьте.").format(
                p=round(confidence * 100))
        if tip:
            editor.setToolTip(tip)
            caption.setToolTip(tip)

    # values ----------------------------------------------------------------------------------------------
    def value(self, field: str) -> Any:
        editor = self.editors[field]
        if isinstance(editor, QComboBox):
            data = editor.currentData()
            if field == "decision_maker":
                return None if data is None else data == "true"
            return data
        if isinstance(editor, QPlainTextEdit):
            return editor.toPlainText().strip() or None
        if isinstance(editor, QDoubleSpinBox):
            return round(editor.value() / 100, 3) if editor.value() > 0 else self._keep_zero(field)
        assert isinstance(editor, QLineEdit)
        text = editor.text().strip()
        if field == "budget_rub":
            digits = text.replace(" ", "")
            return int(digits) if digits else None
        if field == "objections":
            by_label = {tr(self.taxonomy.label(c)).lower(): c for c in self.taxonomy.categories}
            return [by_label.get(part.strip().lower(), part.strip()) for part in text.split(",") if part.strip()]
        return text or None

    def _keep_zero(self, field: str) -> float | None:
        original = self.card.get(field)
        return 0.0 if isinstance(original, (int, float)) else None

    def edited_card(self) -> dict[str, Any]:
        card = dict(self.card)
        for field in FIELD_LABELS:
            card[field] = self.value(field)
        return card

    def problems(self, card: dict[str, Any]) -> list[str]:
        out = []
        when = card.get("next_contact_date")
        if when:
            try:
                if not DATE_RE.match(str(when)):
                    raise ValueError
                date.fromisoformat(str(when))
            except ValueError:
                out.append(tr("Дата следующего контакта: нужен формат ГГГГ-ММ-ДД"))
        email = card.get("email")
        if email and "@" not in str(email):
            out.append(tr("Почта: не похоже на адрес"))
        return out

    # actions ---------------------------------------------------------------------------------------------
    def save_draft(self) -> None:
        card = self.edited_card()
        run_in_background(lambda: outbox.save_draft(self.call_id, self.card, card),
                          lambda _r: self.status.setText(tr("Черновик сохранён")), self._failed)

    def send(self) -> None:
        card = self.edited_card()
        problems = self.problems(card)
        if problems:
            self.status.setText("\n".join(problems))
            return
        self.send_button.setEnabled(False)
        self.status.setText(tr("Ставлю карточку в очередь…"))
        run_in_background(lambda: outbox.confirm(self.call_id, self.card, card, self.crm_kind),
                          lambda _r: self._sent(card), self._failed,
                          name="sufler-outbox")

    def _sent(self, card: dict[str, Any]) -> None:
        self.confirmed.emit(self.call_id, card)
        self.send_button.setText(tr("В очереди на отправку"))
        self.refresh_status()

    def _failed(self, exc: BaseException) -> None:
        self.send_button.setEnabled(True)
        self.status.setText(user_message(exc))

    def refresh_status(self) -> None:
        run_in_background(outbox.status, lambda s: self.status.setText(s.describe()), self._failed,
                          name="sufler-outbox-status")
