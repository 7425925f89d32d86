"""What the outbox needs from a CRM adapter: find-or-create for each delivery step.

Every ``find_*`` must recognise what an earlier, possibly interrupted, ``create_*`` of the same card left
in the CRM (by the phone for contacts, by the call id for deals, by the call-id marker in the text for
notes and tasks), so that a lost response never leads to a second entity.
"""

from __future__ import annotations

from typing import Any, Protocol

Card = dict[str, Any]


def marker(call_id: str) -> str:
    """The line every note and task carries, by which they are found again."""
    return f"[Суфлёр: звонок {call_id}]"


class Adapter(Protocol):
    target: str

    def find_contact(self, card: Card, *, thorough: bool) -> str | None:
        """The contact with the card's phone (or e-mail); with ``thorough`` also by the exact name."""

    def create_contact(self, card: Card) -> str: ...

    def find_deal(self, call_id: str) -> str | None: ...

    def create_deal(self, call_id: str, card: Card, contact_id: str | None) -> str: ...

    def find_note(self, deal_id: str, call_id: str) -> str | None: ...

    def create_note(self, deal_id: str, call_id: str, card: Card) -> str: ...

    def find_task(self, deal_id: str, call_id: str) -> str | None: ...

    def create_task(self, deal_id: str, call_id: str, card: Card) -> str: ...

    def refresh_auth(self) -> bool:
        """Get a new access token (amoCRM OAuth); False when there is nothing to refresh."""

    def close(self) -> None: ...


OUTCOMES_RU = {"next_step_agreed": "договорились о следующем шаге", "postponed": "отложено", "refused": "отказ",
               "won": "сделка", "no_contact": "разговор не состоялся"}


def deal_title(call_id: str, card: Card) -> str:
    who = card.get("company") or card.get("contact_name") or "Звонок"
    return f"{who} (Суфлёр {call_id})"[:250]


def note_text(call_id: str, card: Card) -> str:
    """The call summary, outcome, objections and checklist for the deal's note (Russian)."""
    lines = [f"Итог звонка: {card.get('summary') or '—'}"]
    if card.get("outcome"):
        lines.append(f"Результат: {OUTCOMES_RU.get(card['outcome'], card['outcome'])}")
    if card.get("refusal_reason"):
        lines.append(f"Причина отказа: {card['refusal_reason']}")
    if card.get("objections"):
        lines.append("Возражения: " + ", ".join(map(str, card["objections"])))
    checklist = card.get("checklist")
    if isinstance(checklist, dict) and checklist:
        lines.append("Чек-лист: " + "; ".join(f"{'✓' if done else '✗'} {step}" for step, done in checklist.items()))
    if isinstance(card.get("compliance"), int | float):
        lines.append(f"Выполнение скрипта: {round(100 * card['compliance'])}%")
    if isinstance(card.get("talk_ratio_manager"), int | float):
        lines.append(f"Доля речи менеджера: {round(100 * card['talk_ratio_manager'])}%")
    lines.append(marker(call_id))
    return "\n".join(lines)


def task_text(call_id: str, card: Card) -> str:
    who = card.get("contact_name") or card.get("company") or "клиентом"
    return f"Связаться с {who} (договорились в звонке). {marker(call_id)}"


def split_name(name: str | None) -> tuple[str, str]:
    parts = (name or "").split()
    if len(parts) >= 2:
        return parts[0], " ".join(parts[1:])
    return (parts[0] if parts else "Контакт"), ""
