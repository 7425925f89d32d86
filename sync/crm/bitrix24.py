"""Bitrix24 REST adapter through an incoming webhook (``{portal}/rest/{user_id}/{code}/{method}.json``).

Methods (≤ 2 requests/s by default): ``crm.duplicate.findbycomm`` (contact by phone, then e-mail),
``crm.contact.list`` (exact name, only when an earlier create may have succeeded), ``crm.contact.add``,
``crm.deal.list`` (by ``ORIGINATOR_ID``/``ORIGIN_ID`` = call id, re-checked in the result),
``crm.deal.add``, ``crm.timeline.comment.list|add``, ``crm.activity.list`` and ``crm.activity.todo.add``,
``profile`` (``test_connection``), ``crm.category.list``/``crm.status.list``/``crm.deal.fields``
(``check``). The webhook code is a secret (keyring ``bitrix24:webhook``) and never appears in logs.
A webhook does not expire, so a 401 pauses the queue at once.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from sync.crm.amocrm import KeyringSecrets, Secrets
from sync.crm.base import Card, deal_title, marker, note_text, split_name, task_text
from sync.crm.errors import AuthError, RejectedError, TransientError
from sync.crm.http import CrmHttp, register_secret
from sync.crm.mapping import BitrixMapping
from sync.crm.ratelimit import RateLimiter

TARGET = "bitrix24"
ORIGINATOR = "sufler"
AUTH_ERRORS = {"NO_AUTH_FOUND", "INVALID_CREDENTIALS", "expired_token", "invalid_token", "WRONG_AUTH_TYPE",
               "insufficient_scope", "ACCESS_DENIED"}
TRANSIENT_ERRORS = {"QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT", "INTERNAL_SERVER_ERROR"}


def _id(value: Any, what: str) -> str:
    if isinstance(value, dict):
        value = value.get("id", value.get("ID"))
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise TransientError(f"{TARGET}: в ответе {what} нет id")
    return str(value)


def _rows(result: Any, what: str) -> list[dict[str, Any]]:
    if isinstance(result, dict) and "items" in result:  # crm.item.* style
        result = result["items"]
    elif isinstance(result, dict) and "categories" in result:  # crm.category.list
        result = result["categories"]
    if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
        raise TransientError(f"{TARGET}: непонятный ответ {what}")
    return result


class Bitrix24Adapter:
    target = TARGET

    def __init__(self, mapping: BitrixMapping, *, secrets: Secrets | None = None, limiter: RateLimiter | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.mapping = mapping
        self.secrets: Secrets = secrets or KeyringSecrets()
        code = self.secrets.get("bitrix24:webhook")
        if not code:
            raise AuthError(f"{TARGET}: нет кода вебхука в хранилище паролей ОС; выполните: sufler crm setup")
        register_secret(code)
        self.http = CrmHttp(f"{mapping.base_url}/rest/{mapping.user_id}/{code}/", limiter or RateLimiter(2, 1.0),
                            timeout=mapping.timeout_seconds, transport=transport, target=TARGET)

    def close(self) -> None:
        self.http.close()

    def refresh_auth(self) -> bool:
        return False  # an incoming webhook has no token to refresh

    def call(self, method: str, params: dict[str, Any], what: str) -> Any:
        _, body = self.http.request("POST", f"{method}.json", what=what, json=params)
        if not isinstance(body, dict):
            raise TransientError(f"{TARGET} {what}: непонятный ответ")
        if "error" in body:
            code = str(body.get("error"))[:60]
            if code in AUTH_ERRORS:
                raise AuthError(f"{TARGET} {what}: {code}")
            if code in TRANSIENT_ERRORS:
                raise TransientError(f"{TARGET} {what}: {code}")
            raise RejectedError(f"{TARGET} {what}: {code}")
        if "result" not in body:
            raise TransientError(f"{TARGET} {what}: в ответе нет result")
        return body["result"]

    # ---- contacts ---------------------------------------------------------------------------------
    def _by_comm(self, kind: str, value: str) -> str | None:
        result = self.call("crm.duplicate.findbycomm", {"type": kind, "entity_type": "CONTACT", "values": [value]},
                           "contact search")
        if isinstance(result, dict) and isinstance(result.get("CONTACT"), list) and result["CONTACT"]:
            return _id(min(result["CONTACT"], key=lambda v: int(v) if str(v).isdigit() else 0), "contact search")
        if result in ([], {}, None) or isinstance(result, dict):
            return None
        raise TransientError(f"{TARGET}: непонятный ответ contact search")

    def find_contact(self, card: Card, *, thorough: bool) -> str | None:
        if card.get("phone"):
            found = self._by_comm("PHONE", card["phone"])
            if found:
                return found
        if card.get("email"):
            found = self._by_comm("EMAIL", card["email"])
            if found:
                return found
        if thorough and not card.get("phone") and not card.get("email") and card.get("contact_name"):
            first, last = split_name(card["contact_name"])
            rows = _rows(self.call("crm.contact.list", {"filter": {"NAME": first, "LAST_NAME": last},
                                                        "select": ["ID", "NAME", "LAST_NAME"]}, "contact search"),
                         "contact search")
            for row in rows:
                if (row.get("NAME"), row.get("LAST_NAME") or "") == (first, last):
                    return _id(row.get("ID"), "contact search")
        return None

    def create_contact(self, card: Card) -> str:
        first, last = split_name(card.get("contact_name") or card.get("company"))
        fields: dict[str, Any] = {"NAME": first, "LAST_NAME": last, "OPENED": "Y"}
        if card.get("phone"):
            fields["PHONE"] = [{"VALUE": card["phone"], "VALUE_TYPE": "WORK"}]
        if card.get("email"):
            fields["EMAIL"] = [{"VALUE": card["email"], "VALUE_TYPE": "WORK"}]
        if card.get("city"):
            fields["ADDRESS_CITY"] = card["city"]
        if self.mapping.responsible_user_id:
            fields["ASSIGNED_BY_ID"] = self.mapping.responsible_user_id
        return _id(self.call("crm.contact.add", {"fields": fields}, "contact create"), "contact create")

    # ---- deals ------------------------------------------------------------------------------------
    def find_deal(self, call_id: str) -> str | None:
        uf = self.mapping.fields.call_id
        select = ["ID", "ORIGINATOR_ID", "ORIGIN_ID"] + ([str(uf)] if uf else [])
        rows = _rows(self.call("crm.deal.list", {"filter": {"ORIGINATOR_ID": ORIGINATOR, "ORIGIN_ID": call_id},
                                                 "select": select}, "deal search"), "deal search")
        for row in rows:
            if row.get("ORIGIN_ID") == call_id or (uf and row.get(str(uf)) == call_id):
                return _id(row.get("ID"), "deal search")
        return None

    def deal_fields(self, call_id: str, card: Card, contact_id: str | None) -> dict[str, Any]:
        m = self.mapping
        stage = m.stage_for(card.get("pipeline"), card.get("outcome"))
        if stage is None:
            raise RejectedError(f"{TARGET}: воронка {card.get('pipeline')} не сопоставлена (crm.toml, pipelines)")
        category = int(stage.pipeline)
        stage_id = str(stage.stage)
        if category and ":" not in stage_id:
            stage_id = f"C{category}:{stage_id}"
        fields: dict[str, Any] = {"TITLE": deal_title(call_id, card), "CATEGORY_ID": category, "STAGE_ID": stage_id,
                                  "CURRENCY_ID": "RUB", "ORIGINATOR_ID": ORIGINATOR, "ORIGIN_ID": call_id,
                                  "OPENED": "Y"}
        if m.fields.call_id:
            fields[str(m.fields.call_id)] = call_id
        if card.get("budget_rub") is not None:
            fields[str(m.fields.budget or "OPPORTUNITY")] = int(card["budget_rub"])
        if card.get("lead_source"):
            fields[str(m.fields.source or "SOURCE_ID")] = m.sources.get(card["lead_source"], card["lead_source"])
        if card.get("next_contact_date") and m.fields.next_contact:
            fields[str(m.fields.next_contact)] = card["next_contact_date"]
        if m.tags and m.fields.tags:
            fields[str(m.fields.tags)] = ", ".join(m.tags)
        if contact_id:
            fields["CONTACT_IDS"] = [int(contact_id)]
        if m.responsible_user_id:
            fields["ASSIGNED_BY_ID"] = m.responsible_user_id
        return fields

    def create_deal(self, call_id: str, card: Card, contact_id: str | None) -> str:
        params = {"fields": self.deal_fields(call_id, card, contact_id), "params": {"REGISTER_SONET_EVENT": "N"}}
        return _id(self.call("crm.deal.add", params, "deal create"), "deal create")

    # ---- note, task -------------------------------------------------------------------------------
    def find_note(self, deal_id: str, call_id: str) -> str | None:
        rows = _rows(self.call("crm.timeline.comment.list", {
            "filter": {"ENTITY_ID": int(deal_id), "ENTITY_TYPE": "deal"}, "select": ["ID", "COMMENT"]},
            "note search"), "note search")
        tag = marker(call_id)
        for row in rows:
            if tag in str(row.get("COMMENT", "")):
                return _id(row.get("ID"), "note search")
        return None

    def create_note(self, deal_id: str, call_id: str, card: Card) -> str:
        return _id(self.call("crm.timeline.comment.add", {"fields": {
            "ENTITY_ID": int(deal_id), "ENTITY_TYPE": "deal", "COMMENT": note_text(call_id, card)}}, "note create"),
            "note create")

    def find_task(self, deal_id: str, call_id: str) -> str | None:
        rows = _rows(self.call("crm.activity.list", {
            "filter": {"OWNER_TYPE_ID": 2, "OWNER_ID": int(deal_id)}, "select": ["ID", "SUBJECT", "DESCRIPTION"]},
            "task search"), "task search")
        tag = marker(call_id)
        for row in rows:
            if tag in str(row.get("DESCRIPTION", "")) or tag in str(row.get("SUBJECT", "")):
                return _id(row.get("ID"), "task search")
        return None

    def create_task(self, deal_id: str, call_id: str, card: Card) -> str:
        m = self.mapping
        when = datetime.combine(date.fromisoformat(card["next_contact_date"]), time.fromisoformat(m.task_time),
                                ZoneInfo(m.timezone))
        params: dict[str, Any] = {"ownerTypeId": 2, "ownerId": int(deal_id), "deadline": when.isoformat(),
                                  "title": "Связаться с клиентом", "description": task_text(call_id, card)}
        if m.responsible_user_id:
            params["responsibleId"] = m.responsible_user_id
        return _id(self.call("crm.activity.todo.add", params, "task create"), "task create")

    # ---- sufler crm test --------------------------------------------------------------------------
    def test_connection(self) -> str:
        """``profile`` through the webhook: a plain Russian line on success; ``CrmError`` otherwise."""
        result = self.call("profile", {}, "profile")
        if not isinstance(result, dict) or "ID" not in result:
            raise TransientError(f"{TARGET}: непонятный ответ CRM (profile)")
        admin = ", администратор" if result.get("ADMIN") in (True, "Y", "true") else ""
        return f"Bitrix24: связь есть, вебхук пользователя id {str(result['ID'])[:20]}{admin}"

    def check(self) -> list[str]:
        problems: list[str] = []
        categories = _rows(self.call("crm.category.list", {"entityTypeId": 2}, "pipelines"), "pipelines")
        known = {str(c.get("id")) for c in categories} | {"0"}
        for ours, stage in self.mapping.pipelines.items():
            if str(stage.pipeline) not in known:
                problems.append(f"bitrix24.pipelines.{ours}: в CRM нет воронки {stage.pipeline}")
                continue
            entity = "DEAL_STAGE" if str(stage.pipeline) == "0" else f"DEAL_STAGE_{stage.pipeline}"
            statuses = _rows(self.call("crm.status.list", {"filter": {"ENTITY_ID": entity}}, "stages"), "stages")
            ids = {str(s.get("STATUS_ID")) for s in statuses}
            sid = str(stage.stage)
            if str(stage.pipeline) != "0" and ":" not in sid:
                sid = f"C{stage.pipeline}:{sid}"
            if sid not in ids:
                problems.append(f"bitrix24.pipelines.{ours}: в воронке {stage.pipeline} нет этапа {sid}")
        fields = self.call("crm.deal.fields", {}, "deal fields")
        if isinstance(fields, dict):
            for name in ("call_id", "budget", "source", "next_contact", "tags"):
                value = getattr(self.mapping.fields, name)
                if value is not None and str(value) not in fields:
                    problems.append(f"bitrix24.fields.{name}: в CRM нет поля сделки {value}")
        return problems
