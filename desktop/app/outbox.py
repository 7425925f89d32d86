"""The wrap-up dialog's only door to the CRM (``sync.crm``): drafts, confirmation, outbox status.

The engine's card is stored as a draft, each field the manager changed is recorded as an edit (the
history stays in ``crm_card_edits``), then the card is confirmed with outbox rows for the chosen CRM in
one transaction. Delivery itself is the outbox's loop. Called on worker threads only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from desktop.app.i18n import tr

CRM_TARGETS = ("amocrm", "bitrix24")  # "file" (export) needs no outbox row


@dataclass(frozen=True)
class OutboxStatus:
    queued: int = 0
    sent: int = 0
    retrying: int = 0
    attention: int = 0

    def describe(self) -> str:
        if not (self.queued or self.sent or self.retrying or self.attention):
            return tr("Очередь в CRM пуста")
        parts = [tr("отправлено: {n}").format(n=self.sent)]
        if self.queued:
            parts.append(tr("в очереди: {n}").format(n=self.queued))
        if self.retrying:
            parts.append(tr("повтор: {n}").format(n=self.retrying))
        if self.attention:
            parts.append(tr("нужно внимание: {n}").format(n=self.attention))
        return tr("CRM") + " — " + ", ".join(parts)

    @property
    def level(self) -> str:
        return "attention" if self.attention else "retrying" if self.retrying else "ok"


def targets_for(kind: str) -> list[str]:
    return [kind] if kind in CRM_TARGETS else []


def save_draft(call_id: str, engine_card: dict[str, Any], card: dict[str, Any]) -> None:
    """The engine's card as the draft, then the manager's changes as edits (with history)."""
    from assist.wrapup import CARD_FIELDS
    from sync.crm import CardStore, calls_db_path

    with CardStore(calls_db_path()) as store:
        stored = store.get(call_id)
        if stored is None:
            store.save_draft(call_id, engine_card, who="engine")
        current = (store.get(call_id) or stored)
        values = current.card if current is not None else {}
        for field, value in card.items():
            if field in CARD_FIELDS and values.get(field) != value:
                store.edit(call_id, field, value, who="manager")


def confirm(call_id: str, engine_card: dict[str, Any], card: dict[str, Any], kind: str) -> list[int]:
    """Confirm the edited card into the outbox (card + outbox rows in one transaction)."""
    from sync.crm import CardStore, calls_db_path

    save_draft(call_id, engine_card, card)
    with CardStore(calls_db_path()) as store:
        return store.confirm(call_id, targets_for(kind), who="manager")


def confirmed_card(call_id: str) -> tuple[str, dict[str, Any]] | None:
    """(status, card) as stored (for the tests and the dialog)."""
    from sync.crm import CardStore, calls_db_path

    with CardStore(calls_db_path()) as store:
        stored = store.get(call_id)
    return (stored.status, dict(stored.card)) if stored is not None else None


def status() -> OutboxStatus:
    from sync.crm import Outbox, calls_db_path

    outbox = Outbox(calls_db_path())
    try:
        raw = outbox.status()
    finally:
        outbox.close()
    return OutboxStatus(queued=raw.pending, sent=raw.sent, retrying=raw.retrying, attention=raw.needs_attention)
