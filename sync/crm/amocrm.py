"""amoCRM / Kommo API v4 adapter: contacts, leads, notes, tasks; long-lived token or OAuth with refresh.

Requests (≤ 7/s by default): ``GET /api/v4/contacts?query=`` (phone digits, e-mail, or the exact name;
results re-checked after E.164 normalisation), ``POST /api/v4/contacts``, ``GET /api/v4/leads?query=<call
id>`` (re-checked against the call-id custom field), ``POST /api/v4/leads``, ``GET|POST
/api/v4/leads/{id}/notes``, ``GET|POST /api/v4/tasks``, ``POST /oauth2/access_token`` (refresh; the
rotated refresh token is stored before the new access token is used), ``GET /api/v4/account`` (``test_connection``),
``GET /api/v4/leads/pipelines`` and ``/api/v4/leads/custom_fields`` (``check``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
import phonenumbers

from sync.crm.base import Card, deal_title, marker, note_text, split_name, task_text
from sync.crm.errors import AuthError, RejectedError, TransientError
from sync.crm.http import CrmHttp, register_secret
from sync.crm.mapping import AmoMapping
from sync.crm.ratelimit import RateLimiter

log = logging.getLogger("sufler.crm.amocrm")
TARGET = "amocrm"
WON, LOST = 142, 143


class Secrets(Protocol):
    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...


class KeyringSecrets:
    """The default secret source: the OS keyring (``sync.crm.secrets``)."""

    def get(self, name: str) -> str | None:
        from sync.crm.secrets import get_secret

        return get_secret(name)

    def set(self, name: str, value: str) -> None:
        from sync.crm.secrets import set_secret

        set_secret(name, value)


def e164(value: object) -> str | None:
    try:
        number = phonenumbers.parse(str(value), "RU")
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def embedded(body: Any, key: str) -> list[dict[str, Any]]:
    """``body._embedded[key]`` as a list of objects; an unexpected shape is a TransientError (no crash)."""
    if body is None:
        return []
    items = body.get("_embedded", {}).get(key) if isinstance(body, dict) and isinstance(
        body.get("_embedded"), dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise TransientError(f"{TARGET}: непонятный ответ CRM ({key})")
    return items


def first_id(body: Any, key: str) -> str:
    items = embedded(body, key)
    if not items or not isinstance(items[0].get("id"), int | str) or isinstance(items[0].get("id"), bool):
        raise TransientError(f"{TARGET}: в ответе нет id ({key})")
    return str(items[0]["id"])


def field_values(entity: Mapping[str, Any], *, code: str | None = None, field_id: object = None) -> list[Any]:
    out: list[Any] = []
    for cf in entity.get("custom_fields_values") or []:
        if not isinstance(cf, dict):
            continue
        if (code is not None and cf.get("field_code") == code) or (
                field_id is not None and str(cf.get("field_id")) == str(field_id)):
            out.extend(v.get("value") for v in cf.get("values") or [] if isinstance(v, dict))
    return out


def unix_at(day: str, at: str, zone: str) -> int:
    moment = datetime.combine(date.fromisoformat(day), time.fromisoformat(at), ZoneInfo(zone))
    return int(moment.timestamp())


class AmoCrmAdapter:
    target = TARGET

    def __init__(self, mapping: AmoMapping, *, secrets: Secrets | None = None, limiter: RateLimiter | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.mapping = mapping
        self.secrets: Secrets = secrets or KeyringSecrets()
        self.http = CrmHttp(mapping.base_url, limiter or RateLimiter(7, 1.0), timeout=mapping.timeout_seconds,
                            transport=transport, target=TARGET)
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    # ---- auth -------------------------------------------------------------------------------------
    def _auth(self) -> dict[str, str]:
        if self._token is None:
            token = self.secrets.get("amocrm:access_token")
            if not token:
                raise AuthError(f"{TARGET}: нет токена в хранилище паролей ОС")
            register_secret(token)
            self._token = token
        return {"Authorization": f"Bearer {self._token}"}

    def _call(self, method: str, path: str, what: str, **kw: Any) -> tuple[int, Any]:
        return self.http.request(method, path, what=what, headers=self._auth(), **kw)

    def refresh_auth(self) -> bool:
        self._token = None
        if self.mapping.auth != "oauth":
            return False
        refresh = self.secrets.get("amocrm:refresh_token")
        secret = self.secrets.get("amocrm:client_secret")
        if not refresh or not secret:
            return False
        register_secret(refresh)
        register_secret(secret)
        try:
            _, body = self.http.request("POST", "/oauth2/access_token", what="token refresh", json={
                "client_id": self.mapping.client_id, "client_secret": secret, "grant_type": "refresh_token",
                "refresh_token": refresh, "redirect_uri": self.mapping.redirect_uri})
        except (AuthError, RejectedError) as exc:
            log.warning("%s: refresh refused: %s", TARGET, exc)
            return False
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str) or not isinstance(
                body.get("refresh_token"), str):
            return False
        register_secret(body["access_token"])
        register_secret(body["refresh_token"])
        self.secrets.set("amocrm:refresh_token", body["refresh_token"])  # rotated: keep it first
        self.secrets.set("amocrm:access_token", body["access_token"])
        self._token = body["access_token"]
        log.info("%s: access token refreshed (expires_in=%s)", TARGET, body.get("expires_in"))
        return True

    # ---- contacts ---------------------------------------------------------------------------------
    def _search_contacts(self, query: str) -> list[dict[str, Any]]:
        _, body = self._call("GET", "/api/v4/contacts", "contact search", params={"query": query, "limit": 250})
        return embedded(body, "contacts")

    def find_contact(self, card: Card, *, thorough: bool) -> str | None:
        phone = card.get("phone")
        if phone:
            number = phonenumbers.parse(phone, "RU")
            for contact in self._search_contacts(str(number.national_number)):
                if any(e164(v) == phone for v in field_values(contact, code="PHONE")):
                    return str(contact["id"])
        email = card.get("email")
        if email:
            for contact in self._search_contacts(email):
                if any(str(v).strip().lower() == email for v in field_values(contact, code="EMAIL")):
                    return str(contact["id"])
        name = card.get("contact_name")
        if thorough and not phone and not email and name:
            for contact in self._search_contacts(name):
                if contact.get("name") == name:
                    return str(contact["id"])
        return None

    def create_contact(self, card: Card) -> str:
        first, last = split_name(card.get("contact_name"))
        contact: dict[str, Any] = {"name": card.get("contact_name") or card.get("company") or "Контакт",
                                   "first_name": first, "last_name": last}
        values = []
        if card.get("phone"):
            values.append({"field_code": "PHONE", "values": [{"value": card["phone"], "enum_code": "WORK"}]})
        if card.get("email"):
            values.append({"field_code": "EMAIL", "values": [{"value": card["email"], "enum_code": "WORK"}]})
        if values:
            contact["custom_fields_values"] = values
        if self.mapping.responsible_user_id:
            contact["responsible_user_id"] = self.mapping.responsible_user_id
        _, body = self._call("POST", "/api/v4/contacts", "contact create", json=[contact])
        return first_id(body, "contacts")

    # ---- deals ------------------------------------------------------------------------------------
    def find_deal(self, call_id: str) -> str | None:
        _, body = self._call("GET", "/api/v4/leads", "deal search", params={"query": call_id, "limit": 250})
        for lead in embedded(body, "leads"):
            if call_id in (str(v) for v in field_values(lead, field_id=self.mapping.fields.call_id)):
                return str(lead["id"])
        return None

    def lead_payload(self, call_id: str, card: Card, contact_id: str | None) -> dict[str, Any]:
        m = self.mapping
        stage = m.stage_for(card.get("pipeline"), card.get("outcome"))
        if stage is None:
            raise RejectedError(f"{TARGET}: воронка {card.get('pipeline')} не сопоставлена (crm.toml, pipelines)")
        lead: dict[str, Any] = {"name": deal_title(call_id, card), "pipeline_id": int(stage.pipeline),
                                "status_id": int(stage.stage)}
        fields: list[dict[str, Any]] = [{"field_id": int(m.fields.call_id or 0), "values": [{"value": call_id}]}]
        budget = card.get("budget_rub")
        if budget is not None:
            if m.fields.budget is None:
                lead["price"] = int(budget)
            else:
                fields.append({"field_id": int(m.fields.budget), "values": [{"value": int(budget)}]})
        source = card.get("lead_source")
        if source and m.fields.source is not None:
            mapped = m.sources.get(source, source)
            value = {"enum_id": mapped} if isinstance(mapped, int) else {"value": mapped}
            fields.append({"field_id": int(m.fields.source), "values": [value]})
        if card.get("next_contact_date") and m.fields.next_contact is not None:
            fields.append({"field_id": int(m.fields.next_contact),
                           "values": [{"value": unix_at(card["next_contact_date"], m.task_time, m.timezone)}]})
        lead["custom_fields_values"] = fields
        if card.get("outcome") == "refused" and card.get("refusal_reason") in m.loss_reasons:
            lead["loss_reason_id"] = m.loss_reasons[card["refusal_reason"]]
        if m.responsible_user_id:
            lead["responsible_user_id"] = m.responsible_user_id
        embedded_: dict[str, Any] = {}
        if m.tags:
            embedded_["tags"] = [{"name": t} for t in m.tags]
        if contact_id:
            embedded_["contacts"] = [{"id": int(contact_id)}]
        if embedded_:
            lead["_embedded"] = embedded_
        lead["request_id"] = call_id
        return lead

    def create_deal(self, call_id: str, card: Card, contact_id: str | None) -> str:
        _, body = self._call("POST", "/api/v4/leads", "deal create",
                             json=[self.lead_payload(call_id, card, contact_id)])
        return first_id(body, "leads")

    # ---- note, task -------------------------------------------------------------------------------
    def find_note(self, deal_id: str, call_id: str) -> str | None:
        _, body = self._call("GET", f"/api/v4/leads/{int(deal_id)}/notes", "note search",
                             params={"filter[note_type]": "common", "limit": 250})
        tag = marker(call_id)
        for note in embedded(body, "notes"):
            params = note.get("params")
            if isinstance(params, dict) and tag in str(params.get("text", "")):
                return str(note["id"])
        return None

    def create_note(self, deal_id: str, call_id: str, card: Card) -> str:
        note = {"note_type": "common", "params": {"text": note_text(call_id, card)}}
        _, body = self._call("POST", f"/api/v4/leads/{int(deal_id)}/notes", "note create", json=[note])
        return first_id(body, "notes")

    def find_task(self, deal_id: str, call_id: str) -> str | None:
        _, body = self._call("GET", "/api/v4/tasks", "task search", params={
            "filter[entity_type]": "leads", "filter[entity_id]": int(deal_id), "limit": 250})
        tag = marker(call_id)
        for task in embedded(body, "tasks"):
            if tag in str(task.get("text", "")):
                return str(task["id"])
        return None

    def create_task(self, deal_id: str, call_id: str, card: Card) -> str:
        m = self.mapping
        task: dict[str, Any] = {"text": task_text(call_id, card), "entity_id": int(deal_id), "entity_type": "leads",
                                "task_type_id": m.task_type_id,
                                "complete_till": unix_at(card["next_contact_date"], m.task_time, m.timezone)}
        if m.responsible_user_id:
            task["responsible_user_id"] = m.responsible_user_id
        _, body = self._call("POST", "/api/v4/tasks", "task create", json=[task])
        return first_id(body, "tasks")

    # ---- sufler crm test --------------------------------------------------------------------------
    def test_connection(self) -> str:
        """``GET /api/v4/account`` with the token: a plain Russian line on success; ``CrmError`` otherwise
        (``sync.crm.connection.test_connection`` turns those into lines too)."""
        try:
            _, body = self._call("GET", "/api/v4/account", "account")
        except AuthError:
            if not self.refresh_auth():  # OAuth: one refresh, as the outbox does
                raise
            _, body = self._call("GET", "/api/v4/account", "account")
        if not isinstance(body, dict) or "id" not in body:
            raise TransientError(f"{TARGET}: непонятный ответ CRM (account)")
        name = str(body.get("name") or body.get("subdomain") or body["id"])[:80]
        return f"amoCRM: связь есть, аккаунт «{name}»"

    def check(self) -> list[str]:
        """Problems of the account against the mapping (empty: all good). Raises on auth/network errors."""
        problems: list[str] = []
        _, body = self._call("GET", "/api/v4/leads/pipelines", "pipelines")
        stages = {(str(p.get("id")), str(s.get("id"))) for p in embedded(body, "pipelines")
                  for s in (p.get("_embedded") or {}).get("statuses") or [] if isinstance(s, dict)}
        pipelines = {p for p, _ in stages}
        for ours, stage in self.mapping.pipelines.items():
            if str(stage.pipeline) not in pipelines:
                problems.append(f"amocrm.pipelines.{ours}: в CRM нет воронки {stage.pipeline}")
            elif (str(stage.pipeline), str(stage.stage)) not in stages:
                problems.append(f"amocrm.pipelines.{ours}: в воронке {stage.pipeline} нет этапа {stage.stage}")
        _, body = self._call("GET", "/api/v4/leads/custom_fields", "custom fields", params={"limit": 250})
        ids = {str(f.get("id")) for f in embedded(body, "custom_fields")}
        for name in ("call_id", "budget", "source", "next_contact"):
            value = getattr(self.mapping.fields, name)
            if value is not None and str(value) not in ids:
                problems.append(f"amocrm.fields.{name}: в CRM нет поля сделки {value}")
        return problems
