"""Cards of calls with their edit history, tied to the call by ``call_id``.

    store = CardStore(calls_db_path())
    store.save_draft(call_id, card, who="engine")       # a new draft version (the whole card)
    store.edit(call_id, "phone", "+79161234567", who="anna")  # one field; value normalised and checked
    store.confirm(call_id, ["amocrm", "bitrix24"], who="anna")
    store.get(call_id)      -> StoredCard | None
    store.history(call_id)  -> list[Edit]   (oldest first)
    store.cards("confirmed") -> list[StoredCard]

``confirm`` writes the confirmed card and one outbox row per CRM target in one ``BEGIN IMMEDIATE``
transaction: either both are on disk or neither. A card that is already delivered (or half-delivered)
to a target is not re-queued for it: edits after delivery go to the CRM by hand.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import phonenumbers

from sync.crm.db import connect, transaction

CARD_FIELDS = ("contact_name", "company", "phone", "email", "city", "budget_rub", "next_contact_date",
               "pipeline", "lead_source", "urgency", "decision_maker", "outcome", "refusal_reason",
               "objections", "summary", "compliance", "talk_ratio_manager")
TARGETS = ("amocrm", "bitrix24")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CardError(ValueError):
    """The card or an edit is not acceptable; the message names the field, not its value."""


def calls_db_path() -> Path:
    from knowledge.settings import data_dir

    return data_dir() / "calls.db"


@dataclass(frozen=True)
class StoredCard:
    call_id: str
    card: dict[str, Any]
    status: str  # draft | confirmed
    version: int
    updated_at: float
    confirmed_at: float | None
    confirmed_by: str | None


@dataclass(frozen=True)
class Edit:
    version: int
    kind: str  # draft | edit | confirm
    field: str | None
    old: Any
    new: Any
    who: str
    at: float


def normalize_phone(value: str) -> str:
    """E.164 (Russian numbers without a country code are read as +7); CardError if it is no phone."""
    try:
        number = phonenumbers.parse(value, "RU")
    except phonenumbers.NumberParseException as exc:
        raise CardError("phone: не номер телефона") from exc
    if not phonenumbers.is_possible_number(number):
        raise CardError("phone: не номер телефона")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_field(field: str, value: Any) -> Any:
    """Check and normalise one card value (``None`` is always allowed: "the call did not say")."""
    if value is None:
        return None
    if field == "phone":
        if not isinstance(value, str):
            raise CardError("phone: ожидается строка")
        return normalize_phone(value)
    if field == "email":
        if not isinstance(value, str) or not EMAIL_RE.match(value.strip()):
            raise CardError("email: не адрес электронной почты")
        return value.strip().lower()
    if field == "budget_rub":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise CardError("budget_rub: ожидается неотрицательное число рублей")
        return int(value)
    if field == "next_contact_date":
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError as exc:
            raise CardError("next_contact_date: ожидается дата ГГГГ-ММ-ДД") from exc
    if field == "decision_maker":
        if not isinstance(value, bool):
            raise CardError("decision_maker: ожидается true/false")
        return value
    if field == "objections":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise CardError("objections: ожидается список категорий")
        return value
    if field in ("compliance", "talk_ratio_manager"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise CardError(f"{field}: ожидается доля от 0 до 1")
        return float(value)
    if field in CARD_FIELDS and not isinstance(value, str):
        raise CardError(f"{field}: ожидается строка")
    return value.strip() if isinstance(value, str) else value


def normalize_card(card: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(card, Mapping):
        raise CardError("карточка должна быть объектом JSON")
    out: dict[str, Any] = dict.fromkeys(CARD_FIELDS)
    for key, value in card.items():
        out[str(key)] = normalize_field(str(key), value) if key in CARD_FIELDS else value
    return out


def card_of(data: Any) -> dict[str, Any]:
    """The card to store from an analysis result (``sufler analyze --json``, ``CallCore.result``): its
    ``card`` with the result's ``checklist`` (the deal's note lists it); a bare card is taken as it is."""
    if not isinstance(data, Mapping):
        raise CardError("карточка должна быть объектом JSON")
    if not isinstance(data.get("card"), Mapping):
        return dict(data)
    card = dict(data["card"])
    if isinstance(data.get("checklist"), Mapping) and not isinstance(card.get("checklist"), Mapping):
        card["checklist"] = dict(data["checklist"])
    return card


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # key order kept (the checklist reads in script order)


class CardStore:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self.conn = connect(path)

    def __enter__(self) -> CardStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def _row(self, call_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(
            "SELECT * FROM crm_cards WHERE call_id = ?", (call_id,)).fetchone()
        return row

    def get(self, call_id: str) -> StoredCard | None:
        row = self._row(call_id)
        if row is None:
            return None
        return StoredCard(row["call_id"], json.loads(row["card"]), row["status"], row["version"], row["updated_at"],
                          row["confirmed_at"], row["confirmed_by"])

    def cards(self, status: str | None = None) -> list[StoredCard]:
        where = " WHERE status = ?" if status else ""
        sql = f"SELECT call_id FROM crm_cards{where} ORDER BY created_at, call_id"
        ids = [r[0] for r in self.conn.execute(sql, (status,) if status else ())]
        return [card for card in (self.get(i) for i in ids) if card is not None]

    def history(self, call_id: str) -> list[Edit]:
        rows = self.conn.execute(
            "SELECT version, kind, field, old, new, who, at FROM crm_card_edits WHERE call_id = ? ORDER BY id",
            (call_id,)).fetchall()
        return [Edit(r["version"], r["kind"], r["field"], None if r["old"] is None else json.loads(r["old"]),
                     None if r["new"] is None else json.loads(r["new"]), r["who"], r["at"]) for r in rows]

    def save_draft(self, call_id: str, card: Mapping[str, Any], *, who: str = "engine") -> StoredCard:
        """Store the card as the call's current draft (a confirmed card goes back to draft)."""
        if not call_id:
            raise CardError("call_id: пустой")
        clean = normalize_card(card)
        now = self.clock()
        with transaction(self.conn):
            row = self._row(call_id)
            version = 1 if row is None else row["version"] + 1
            if row is None:
                self.conn.execute(
                    "INSERT INTO crm_cards (call_id, card, status, version, created_at, updated_at)"
                    " VALUES (?, ?, 'draft', ?, ?, ?)", (call_id, _dump(clean), version, now, now))
            else:
                self.conn.execute(
                    "UPDATE crm_cards SET card = ?, status = 'draft', version = ?, updated_at = ?,"
                    " confirmed_at = NULL, confirmed_by = NULL WHERE call_id = ?",
                    (_dump(clean), version, now, call_id))
            self.conn.execute(
                "INSERT INTO crm_card_edits (call_id, version, kind, field, old, new, who, at)"
                " VALUES (?, ?, 'draft', NULL, NULL, ?, ?, ?)", (call_id, version, _dump(clean), who, now))
        stored = self.get(call_id)
        assert stored is not None
        return stored

    def edit(self, call_id: str, field: str, value: Any, *, who: str) -> StoredCard:
        """Change one field; the old and new values go to the history. Unknown fields are refused."""
        if field not in CARD_FIELDS:
            raise CardError(f"{field}: нет такого поля карточки")
        new = normalize_field(field, value)
        now = self.clock()
        with transaction(self.conn):
            row = self._row(call_id)
            if row is None:
                raise CardError(f"нет карточки звонка {call_id}")
            card = json.loads(row["card"])
            old = card.get(field)
            if old == new:
                return self._stored(row)
            card[field] = new
            version = row["version"] + 1
            self.conn.execute(
                "UPDATE crm_cards SET card = ?, status = 'draft', version = ?, updated_at = ?, confirmed_at = NULL,"
                " confirmed_by = NULL WHERE call_id = ?", (_dump(card), version, now, call_id))
            self.conn.execute(
                "INSERT INTO crm_card_edits (call_id, version, kind, field, old, new, who, at)"
                " VALUES (?, ?, 'edit', ?, ?, ?, ?, ?)", (call_id, version, field, _dump(old), _dump(new), who, now))
        stored = self.get(call_id)
        assert stored is not None
        return stored

    def _stored(self, row: sqlite3.Row) -> StoredCard:
        return StoredCard(row["call_id"], json.loads(row["card"]), row["status"], row["version"], row["updated_at"],
                          row["confirmed_at"], row["confirmed_by"])

    def confirm(self, call_id: str, targets: Iterable[str], *, who: str = "manager") -> list[int]:
        """Confirm the card and queue it for each target, atomically. Returns the outbox row ids."""
        wanted = list(dict.fromkeys(targets))
        for target in wanted:
            if target not in TARGETS:
                raise CardError(f"{target}: неизвестная CRM (есть: {', '.join(TARGETS)})")
        now = self.clock()
        ids: list[int] = []
        with transaction(self.conn):
            row = self._row(call_id)
            if row is None:
                raise CardError(f"нет карточки звонка {call_id}")
            self.conn.execute("UPDATE crm_cards SET status = 'confirmed', confirmed_at = ?, confirmed_by = ?"
                              " WHERE call_id = ?", (now, who, call_id))
            self.conn.execute(
                "INSERT INTO crm_card_edits (call_id, version, kind, field, old, new, who, at)"
                " VALUES (?, ?, 'confirm', NULL, NULL, ?, ?, ?)", (call_id, row["version"], _dump(wanted), who, now))
            for target in wanted:
                ids.append(self._queue(call_id, target, row["card"], now))
        return ids

    def _queue(self, call_id: str, target: str, payload: str, now: float) -> int:
        existing = self.conn.execute("SELECT id, status FROM outbox WHERE call_id = ? AND target = ?",
                                     (call_id, target)).fetchone()
        if existing is None:
            cur = self.conn.execute(
                "INSERT INTO outbox (call_id, target, payload, status, next_attempt_at, created_at)"
                " VALUES (?, ?, ?, 'pending', ?, ?)", (call_id, target, payload, now, now))
            assert cur.lastrowid is not None
            return cur.lastrowid
        done = self.conn.execute("SELECT COUNT(*) FROM crm_remote_ids WHERE outbox_id = ?",
                                 (existing["id"],)).fetchone()[0]
        if existing["status"] == "sent" or done:
            raise CardError(f"карточка звонка {call_id} уже отправлена в {target}; правьте сделку в CRM")
        self.conn.execute("UPDATE outbox SET payload = ?, status = 'pending', attempts = 0, next_attempt_at = ?,"
                          " last_error = NULL WHERE id = ?", (payload, now, existing["id"]))
        return int(existing["id"])
