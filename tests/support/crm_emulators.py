"""Local emulators of the amoCRM v4 and Bitrix24 REST endpoints the CRM adapters use.

Real HTTP servers (``ThreadingHTTPServer`` on 127.0.0.1, a thread each) with the documented shapes:
amoCRM ``application/hal+json`` and ``application/problem+json`` errors (400 ``validation-errors``, 401,
429 above ``limit`` requests per ``window`` seconds), OAuth ``/oauth2/access_token`` with rotating
refresh tokens; Bitrix24 ``/rest/{user}/{code}/{method}.json`` with ``{"result": …}`` or
``{"error", "error_description"}`` (401 INVALID_CREDENTIALS / expired_token, 404
ERROR_METHOD_NOT_FOUND, 400, 503 QUERY_LIMIT_EXCEEDED from a leaky bucket of ``capacity`` draining
``rate`` requests per ``window``). ``window`` scales time so that the tests can run the real limits
faster: 7 per 0.05 s instead of 7 per second.

Server-side accounting: ``arrivals`` (monotonic arrival times of every request), ``violations``
(requests the real rate rule rejected). Fault injection: ``storm(start, count, probability)`` answers
a share of requests with 429/503 without doing anything; ``hang_after_create(kind, seconds)`` makes the
next create of that kind succeed and then answers only after ``seconds`` (a client timeout after a
create that did succeed; ``None``: until ``release`` is set); ``fail_next(status, body)`` answers the
next request with that; ``expire()`` invalidates the current access token. The HTTP servers log
nothing (no URLs with phones in test logs).

Also here: ``MemoryKeyring``, the in-memory keyring backend the tests install with
``keyring.set_keyring`` (secrets never touch the disk), ``LogCapture`` for the log scans, and a
worker (``python -m tests.support.crm_emulators``) that delivers an outbox in a child process for the
``kill -9`` tests.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import logging
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from keyring.backend import KeyringBackend

# ---------------------------------------------------------------------------------------------------
# shared machinery


class Reply:
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
                 content_type: str = "application/json", delay: float = 0.0) -> None:
        self.status, self.body, self.headers = status, body, headers or {}
        self.content_type, self.delay = content_type, delay


class Emulator:
    """Common part: the server thread, the arrival log, storms and injected failures."""

    name = "crm"

    def __init__(self, *, seed: int = 1) -> None:
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.arrivals: list[float] = []
        self.violations = 0
        self.injected = 0
        self.rng = random.Random(seed)
        self._storm: tuple[int, int, float, str | None] | None = None
        self._fail_next: list[Reply] = []
        self._fail_every: Reply | None = None
        self._hang: dict[str, float] = {}
        self.hang_event = threading.Event()  # set when a hung create has been done
        self.release = threading.Event()    # cleared while hung responses wait
        self.release.set()
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls

            def log_message(self, format: str, *args: Any) -> None:  # no request lines (URLs) in logs
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                reply = emulator.handle(self.command, self.path, dict(self.headers.items()), raw)
                if reply.delay:
                    time.sleep(reply.delay)
                data = b"" if reply.body is None or reply.status == 204 else json.dumps(
                    reply.body, ensure_ascii=False).encode()
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    if data:
                        self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_PATCH = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"{self.name}-emulator", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    # fault injection
    def storm(self, start: int, count: int, probability: float, retry_after: str | None = None) -> None:
        """Requests number start … start+count-1 are refused with 429/503 with this probability."""
        with self.lock:
            self._storm = (start, count, probability, retry_after)

    def fail_next(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self._fail_next.append(Reply(status, body, headers))

    def fail_every(self, status: int | None, body: Any = None, headers: dict[str, str] | None = None) -> None:
        """Answer every request with this (a broken CRM) until called with ``None``."""
        with self.lock:
            self._fail_every = None if status is None else Reply(status, body, headers)

    def hang_after_create(self, kind: str, seconds: float | None = None) -> None:
        """The next create of ``kind`` succeeds, then the answer waits ``seconds`` (None: until ``release``)."""
        with self.lock:
            self._hang[kind] = -1.0 if seconds is None else seconds
            if seconds is None:
                self.release.clear()
            self.hang_event.clear()

    def _hung(self, kind: str) -> float:
        seconds = self._hang.pop(kind, None)
        if seconds is None:
            return 0.0
        self.hang_event.set()
        return seconds

    def wait_requests(self, n: int, timeout: float = 30.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.arrivals) >= n, timeout)

    def max_in_window(self, window: float) -> int:
        """The most requests that arrived within any ``window`` seconds (server clock)."""
        best, times, j = 0, sorted(self.arrivals), 0
        for i, t in enumerate(times):
            while t - times[j] >= window:
                j += 1
            best = max(best, i - j + 1)
        return best

    # subclass hooks
    def rate_check(self, now: float) -> Reply | None:
        raise NotImplementedError

    def storm_reply(self, retry_after: str | None) -> Reply:
        raise NotImplementedError

    def route(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
              body: Any) -> Reply:
        raise NotImplementedError

    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes) -> Reply:
        now = time.monotonic()
        with self.cond:
            self.arrivals.append(now)
            n = len(self.arrivals)
            self.cond.notify_all()
            limited = self.rate_check(now)
            if limited is not None:
                self.violations += 1
                return limited
            if self._fail_next:
                self.injected += 1
                return self._fail_next.pop(0)
            if self._fail_every is not None:
                self.injected += 1
                return self._fail_every
            if self._storm is not None:
                start, count, probability, retry_after = self._storm
                if start <= n < start + count and self.rng.random() < probability:
                    self.injected += 1
                    return self.storm_reply(retry_after)
        parts = urlsplit(raw_path)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return Reply(400, {"error": "INVALID_REQUEST", "error_description": "bad JSON"})
        with self.lock:
            reply = self.route(method, parts.path, parse_qs(parts.query), headers, body)
        if reply.delay < 0:  # hung until released
            reply.delay = 0.0
            self.release.wait()
        return reply


def _digits(text: Any) -> str:
    return _digits_of(str(text))


@functools.lru_cache(maxsize=65536)
def _digits_of(text: str) -> str:  # the emulators search every contact on every query: memoised
    return re.sub(r"\D", "", text)


# ---------------------------------------------------------------------------------------------------
# amoCRM v4


def problem(status: int, title: str, detail: str, **extra: Any) -> Reply:
    return Reply(status, {"title": title, "type": f"https://httpstatus.es/{status}", "status": status,
                          "detail": detail, **extra}, content_type="application/problem+json")


def validation(path: str, code: str = "NotSupportedChoice", request_id: str = "0") -> Reply:
    return problem(400, "Bad Request", "Request validation failed", **{"validation-errors": [
        {"request_id": request_id, "errors": [{"code": code, "path": path, "detail": "The value is invalid"}]}]})


class AmoEmulator(Emulator):
    name = "amocrm"

    def __init__(self, *, limit: int = 7, window: float = 1.0, pipelines: dict[int, list[int]] | None = None,
                 lead_fields: tuple[int, ...] = (900001, 900002, 900003), token: str = "amo-access-0",
                 refresh_token: str = "amo-refresh-0", client_id: str = "client-1",
                 client_secret: str = "amo-client-secret", seed: int = 1) -> None:
        self.limit, self.window = limit, window
        self.pipelines = pipelines or {1001: [11, 12, 142, 143], 1002: [21, 22, 142, 143]}
        self.lead_fields = lead_fields
        self.tokens = {token}
        self.refresh_token, self.client_id, self.client_secret = refresh_token, client_id, client_secret
        self.refreshes = 0
        self.recent: collections.deque[float] = collections.deque()
        self.next_id = 1000
        self.contacts: dict[int, dict[str, Any]] = {}
        self.leads: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, dict[str, Any]] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self._blobs: dict[tuple[int, Any], tuple[str, str]] = {}  # search text of each contact and lead
        super().__init__(seed=seed)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def expire(self) -> None:
        with self.lock:
            self.tokens.clear()

    def add_contact(self, name: str, phone: str) -> int:
        with self.lock:
            cid = self.new_id()
            self.contacts[cid] = {"id": cid, "name": name, "custom_fields_values": [
                {"field_code": "PHONE", "values": [{"value": phone, "enum_code": "WORK"}]}]}
            return cid

    def rate_check(self, now: float) -> Reply | None:
        while self.recent and now - self.recent[0] >= self.window:
            self.recent.popleft()
        self.recent.append(now)
        if len(self.recent) > self.limit:
            return problem(429, "Too Many Requests", "Too many requests")
        return None

    def storm_reply(self, retry_after: str | None) -> Reply:
        return problem(429, "Too Many Requests", "Too many requests") if not retry_after else Reply(
            429, {"title": "Too Many Requests", "status": 429}, {"Retry-After": retry_after},
            content_type="application/problem+json")

    def leads_with_call(self, call_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [lead for lead in self.leads.values() if any(
                v.get("value") == call_id for cf in lead.get("custom_fields_values", [])
                if cf.get("field_id") == self.lead_fields[0] for v in cf.get("values", []))]

    def _matches(self, entity: dict[str, Any], query: str) -> bool:
        """amoCRM's fuzzy ``query``: a substring of the name or any field value, or (5+ digits) of their digits.
        Entities do not change after creation here, so each one's search text is built once."""
        key = (id(entity), entity.get("id"))
        blob = self._blobs.get(key)
        if blob is None:
            values = [v for cf in entity.get("custom_fields_values") or [] for v in cf.get("values", [])]
            texts = [str(entity.get("name", ""))] + [str(v.get("value", "")) for v in values]
            blob = self._blobs[key] = ("\0".join(t.lower() for t in texts), "\0".join(_digits(t) for t in texts))
        digits = _digits(query)
        return query.lower() in blob[0] or (len(digits) >= 5 and digits in blob[1])

    def _list(self, key: str, items: list[dict[str, Any]], query: dict[str, list[str]]) -> Reply:
        limit = min(int(query.get("limit", ["50"])[0]), 250)
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * limit: page * limit]
        if not chunk:
            return Reply(204)
        return Reply(200, {"_page": page, "_links": {"self": {"href": "…"}}, "_embedded": {key: chunk}},
                     content_type="application/hal+json")

    def route(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
              body: Any) -> Reply:
        if path == "/oauth2/access_token" and method == "POST":
            return self.oauth(body)
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return problem(401, "Unauthorized", "Unauthorized", response={"error_code": 110})
        if path == "/api/v4/account":
            return Reply(200, {"id": 1, "name": "Эмулятор", "subdomain": "emu"}, content_type="application/hal+json")
        if path == "/api/v4/leads/pipelines":
            return Reply(200, {"_embedded": {"pipelines": [
                {"id": p, "name": f"P{p}", "_embedded": {"statuses": [{"id": s} for s in st]}}
                for p, st in self.pipelines.items()]}}, content_type="application/hal+json")
        if path == "/api/v4/leads/custom_fields":
            return Reply(200, {"_embedded": {"custom_fields": [{"id": f, "type": "text"} for f in self.lead_fields]}},
                         content_type="application/hal+json")
        q = query.get("query", [""])[0]
        if path == "/api/v4/contacts":
            if method == "GET":
                return self._list("contacts", [c for c in self.contacts.values() if not q or self._matches(c, q)],
                                  query)
            return self._create("contacts", body, self._contact)
        if path == "/api/v4/leads":
            if method == "GET":
                return self._list("leads", [x for x in self.leads.values() if not q or self._matches(x, q)], query)
            return self._create("leads", body, self._lead)
        m = re.fullmatch(r"/api/v4/leads/(\d+)/notes", path)
        if m:
            lead_id = int(m.group(1))
            if lead_id not in self.leads:
                return problem(404, "Not Found", "Entity not found")
            if method == "GET":
                kind = query.get("filter[note_type]", [None])[0]
                return self._list("notes", [n for n in self.notes.values() if n["entity_id"] == lead_id and (
                    kind is None or n["note_type"] == kind)], query)
            return self._create("notes", body, lambda item, i: self._note(item, i, lead_id))
        if path == "/api/v4/tasks":
            if method == "GET":
                eid = query.get("filter[entity_id]", [None])[0]
                return self._list("tasks", [t for t in self.tasks.values()
                                            if eid is None or str(t["entity_id"]) == eid], query)
            return self._create("tasks", body, self._task)
        return problem(404, "Not Found", "Not found")

    def oauth(self, body: Any) -> Reply:
        if not isinstance(body, dict) or body.get("client_id") != self.client_id or body.get(
                "client_secret") != self.client_secret:
            return problem(401, "Unauthorized", "Client authentication failed")
        if body.get("grant_type") != "refresh_token" or body.get("refresh_token") != self.refresh_token:
            return problem(400, "Bad Request", "Token has been revoked", hint="Refresh token is invalid")
        self.refreshes += 1
        access, self.refresh_token = f"amo-access-{self.refreshes}", f"amo-refresh-{self.refreshes}"
        self.tokens = {access}
        return Reply(200, {"token_type": "Bearer", "expires_in": 86400, "access_token": access,
                           "refresh_token": self.refresh_token})

    def _create(self, key: str, body: Any, make: Callable[[Any, int], dict[str, Any] | Reply]) -> Reply:
        if not isinstance(body, list) or not body:
            return validation("", "InvalidType")
        made = []
        for i, item in enumerate(body):
            result = make(item, i)
            if isinstance(result, Reply):
                return result
            made.append(result)
        store = getattr(self, key)
        for entity in made:
            store[entity["id"]] = entity
        items = [{"id": e["id"], "request_id": str(e.get("request_id", i)), "_links": {}} for i, e in enumerate(made)]
        return Reply(200, {"_links": {}, "_embedded": {key: items}}, content_type="application/hal+json",
                     delay=self._hung(key))

    def _contact(self, item: Any, i: int) -> dict[str, Any] | Reply:
        if not isinstance(item, dict) or not isinstance(item.get("name", ""), str):
            return validation(f"{i}.name", "InvalidType", str(i))
        for j, cf in enumerate(item.get("custom_fields_values") or []):
            if cf.get("field_code") not in ("PHONE", "EMAIL"):
                return validation(f"{i}.custom_fields_values.{j}.field_code", request_id=str(i))
        return {**item, "id": self.new_id()}

    def _lead(self, item: Any, i: int) -> dict[str, Any] | Reply:
        if not isinstance(item, dict):
            return validation(f"{i}", "InvalidType", str(i))
        pipeline, status = item.get("pipeline_id"), item.get("status_id")
        if pipeline not in self.pipelines:
            return validation(f"{i}.pipeline_id", request_id=str(i))
        if status not in self.pipelines[pipeline]:
            return validation(f"{i}.status_id", request_id=str(i))
        if "price" in item and (not isinstance(item["price"], int) or isinstance(item["price"], bool)):
            return validation(f"{i}.price", "InvalidType", str(i))
        for j, cf in enumerate(item.get("custom_fields_values") or []):
            if cf.get("field_id") not in self.lead_fields:
                return validation(f"{i}.custom_fields_values.{j}.field_id", request_id=str(i))
        for contact in (item.get("_embedded") or {}).get("contacts") or []:
            if contact.get("id") not in self.contacts:
                return validation(f"{i}._embedded.contacts.0.id", "NotFound", str(i))
        return {**item, "id": self.new_id()}

    def _note(self, item: Any, i: int, lead_id: int) -> dict[str, Any] | Reply:
        if not isinstance(item, dict) or item.get("note_type") != "common" or not isinstance(
                (item.get("params") or {}).get("text"), str):
            return validation(f"{i}.params.text", "InvalidType", str(i))
        return {**item, "id": self.new_id(), "entity_id": lead_id}

    def _task(self, item: Any, i: int) -> dict[str, Any] | Reply:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            return validation(f"{i}.text", "NotBlank", str(i))
        if not isinstance(item.get("complete_till"), int):
            return validation(f"{i}.complete_till", "InvalidType", str(i))
        if item.get("entity_type") != "leads" or item.get("entity_id") not in self.leads:
            return validation(f"{i}.entity_id", "NotFound", str(i))
        return {**item, "id": self.new_id()}


# ---------------------------------------------------------------------------------------------------
# Bitrix24 REST


def b24_error(status: int, code: str, description: str) -> Reply:
    return Reply(status, {"error": code, "error_description": description})


class BitrixEmulator(Emulator):
    name = "bitrix24"

    def __init__(self, *, rate: float = 2.0, capacity: int = 50, window: float = 1.0, user_id: int = 1,
                 webhook: str = "b24webhooksecretcode", stages: dict[int, list[str]] | None = None,
                 deal_fields: tuple[str, ...] = ("UF_CRM_SUFLER_CALL", "UF_CRM_NEXT_CONTACT"), seed: int = 1) -> None:
        self.rate, self.capacity, self.window = rate, capacity, window
        self.user_id, self.webhook = user_id, webhook
        self.stages = stages or {0: ["NEW", "PREPARATION", "WON", "LOSE"], 3: ["C3:NEW", "C3:WON", "C3:LOSE"]}
        self.deal_fields = deal_fields
        self.level, self.last = 0.0, time.monotonic()
        self.next_id = 0
        self.contacts: dict[int, dict[str, Any]] = {}
        self.deals: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.activities: dict[int, dict[str, Any]] = {}
        self._comms: dict[tuple[int, int, str], frozenset[str]] = {}
        self.expired = False
        super().__init__(seed=seed)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def add_contact(self, name: str, phone: str) -> int:
        with self.lock:
            cid = self.new_id()
            self.contacts[cid] = {"ID": str(cid), "NAME": name, "LAST_NAME": "",
                                  "PHONE": [{"VALUE": phone, "VALUE_TYPE": "WORK"}]}
            return cid

    def expire(self) -> None:
        with self.lock:
            self.expired = True

    def rate_check(self, now: float) -> Reply | None:
        self.level = max(0.0, self.level - (now - self.last) * self.rate / self.window)
        self.last = now
        self.level += 1
        if self.level > self.capacity:
            return b24_error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
        return None

    def storm_reply(self, retry_after: str | None) -> Reply:
        reply = b24_error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
        if retry_after:
            reply.headers["Retry-After"] = retry_after
        return reply

    def deals_with_call(self, call_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [d for d in self.deals.values() if d.get("ORIGIN_ID") == call_id]

    def _ok(self, result: Any, delay: float = 0.0, total: int | None = None) -> Reply:
        body: dict[str, Any] = {"result": result, "time": {"start": time.time(), "duration": 0.001}}
        if total is not None:
            body["total"] = total
        return Reply(200, body, delay=delay)

    def _page(self, rows: list[dict[str, Any]], params: dict[str, Any]) -> Reply:
        start = int(params.get("start") or 0)
        reply = self._ok(rows[start:start + 50], total=len(rows))
        if start + 50 < len(rows):
            reply.body["next"] = start + 50
        return reply

    def route(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
              body: Any) -> Reply:
        m = re.fullmatch(r"/rest/(\d+)/([^/]+)/([\w.]+)\.json", path)
        if not m:
            return b24_error(404, "ERROR_METHOD_NOT_FOUND", "Method not found")
        if int(m.group(1)) != self.user_id or m.group(2) != self.webhook:
            return b24_error(401, "INVALID_CREDENTIALS", "Invalid request credentials")
        if self.expired:
            return b24_error(401, "expired_token", "The access token provided has expired.")
        params = body if isinstance(body, dict) else {}
        handler = getattr(self, "m_" + m.group(3).replace(".", "_"), None)
        if handler is None:
            return b24_error(404, "ERROR_METHOD_NOT_FOUND", "Method not found")
        result: Reply = handler(params)
        return result

    # methods
    def m_crm_duplicate_findbycomm(self, p: dict[str, Any]) -> Reply:
        kind, values = p.get("type"), p.get("values")
        if kind not in ("PHONE", "EMAIL") or not isinstance(values, list) or len(values) > 20:
            return b24_error(400, "ERROR_ARGUMENT", "Parameter 'values' is invalid")

        def norm(v: Any) -> str:
            return _digits(v)[-10:] if kind == "PHONE" else str(v).lower()

        wanted = {norm(v) for v in values}
        ids = []
        for cid, c in self.contacts.items():  # each contact's normalised values are computed once
            key = (cid, id(c), str(kind))
            have = self._comms.get(key)
            if have is None:
                have = self._comms[key] = frozenset(norm(x.get("VALUE")) for x in c.get(str(kind)) or [])
            if have & wanted:
                ids.append(cid)
        return self._ok({"CONTACT": ids} if ids else [])

    def m_profile(self, p: dict[str, Any]) -> Reply:
        return self._ok({"ID": str(self.user_id), "ADMIN": True, "NAME": "Админ", "LAST_NAME": "Портала"})

    def m_crm_contact_add(self, p: dict[str, Any]) -> Reply:
        fields = p.get("fields")
        if not isinstance(fields, dict) or not fields.get("NAME"):
            return b24_error(400, "ERROR_CORE", "Не заполнено обязательное поле «Имя»")
        cid = self.new_id()
        self.contacts[cid] = {**fields, "ID": str(cid)}
        return self._ok(cid, self._hung("contacts"))

    def m_crm_contact_list(self, p: dict[str, Any]) -> Reply:
        flt = p.get("filter") or {}
        rows = [c for c in self.contacts.values() if all(str(c.get(k, "")) == str(v) for k, v in flt.items())]
        return self._page(rows, p)

    def m_crm_deal_list(self, p: dict[str, Any]) -> Reply:
        flt = p.get("filter") or {}
        rows = [d for d in self.deals.values() if all(str(d.get(k, "")) == str(v) for k, v in flt.items())]
        return self._page(rows, p)

    def m_crm_deal_add(self, p: dict[str, Any]) -> Reply:
        fields = p.get("fields")
        if not isinstance(fields, dict) or not fields.get("TITLE"):
            return b24_error(400, "ERROR_CORE", "Не заполнено поле «Название»")
        category = int(fields.get("CATEGORY_ID") or 0)
        if category not in self.stages:
            return b24_error(400, "ERROR_CORE", "Воронка не найдена")
        if fields.get("STAGE_ID") not in self.stages[category]:
            return b24_error(400, "ERROR_CORE", "Стадия не найдена")
        for key in fields:
            if key.startswith("UF_") and key not in self.deal_fields:
                return b24_error(400, "ERROR_CORE", "Неизвестное поле")
        for cid in fields.get("CONTACT_IDS") or []:
            if int(cid) not in self.contacts:
                return b24_error(400, "ERROR_CORE", "Контакт не найден")
        did = self.new_id()
        self.deals[did] = {**fields, "ID": str(did)}
        return self._ok(did, self._hung("deals"))

    def m_crm_deal_fields(self, p: dict[str, Any]) -> Reply:
        base = ["ID", "TITLE", "CATEGORY_ID", "STAGE_ID", "OPPORTUNITY", "CURRENCY_ID", "SOURCE_ID", "ORIGIN_ID"]
        return self._ok({f: {"type": "string"} for f in [*base, *self.deal_fields]})

    def m_crm_category_list(self, p: dict[str, Any]) -> Reply:
        return self._ok({"categories": [{"id": c, "name": f"C{c}"} for c in self.stages]})

    def m_crm_status_list(self, p: dict[str, Any]) -> Reply:
        entity = str((p.get("filter") or {}).get("ENTITY_ID", ""))
        category = 0 if entity == "DEAL_STAGE" else int(entity.rsplit("_", 1)[-1]) if entity[-1:].isdigit() else -1
        return self._ok([{"STATUS_ID": s, "ENTITY_ID": entity} for s in self.stages.get(category, [])])

    def m_crm_timeline_comment_add(self, p: dict[str, Any]) -> Reply:
        fields = p.get("fields") or {}
        if fields.get("ENTITY_TYPE") != "deal" or int(fields.get("ENTITY_ID") or 0) not in self.deals or not fields.get(
                "COMMENT"):
            return b24_error(400, "ERROR_ARGUMENT", "Entity not found or comment empty")
        nid = self.new_id()
        self.comments[nid] = {**fields, "ID": str(nid)}
        return self._ok(nid, self._hung("comments"))

    def m_crm_timeline_comment_list(self, p: dict[str, Any]) -> Reply:
        flt = p.get("filter") or {}
        rows = [c for c in self.comments.values() if str(c.get("ENTITY_ID")) == str(flt.get("ENTITY_ID"))]
        return self._page(rows, p)

    def m_crm_activity_todo_add(self, p: dict[str, Any]) -> Reply:
        if p.get("ownerTypeId") != 2 or int(p.get("ownerId") or 0) not in self.deals or not p.get("deadline"):
            return b24_error(400, "ERROR_ARGUMENT", "Owner or deadline is invalid")
        aid = self.new_id()
        self.activities[aid] = {"ID": str(aid), "OWNER_TYPE_ID": 2, "OWNER_ID": str(p["ownerId"]),
                                "SUBJECT": p.get("title", ""), "DESCRIPTION": p.get("description", ""),
                                "DEADLINE": p["deadline"]}
        return self._ok({"id": aid}, self._hung("activities"))

    def m_crm_activity_list(self, p: dict[str, Any]) -> Reply:
        flt = p.get("filter") or {}
        rows = [a for a in self.activities.values() if str(a["OWNER_ID"]) == str(flt.get("OWNER_ID"))]
        return self._page(rows, p)


# ---------------------------------------------------------------------------------------------------
# test helpers


class MemoryKeyring(KeyringBackend):
    """An in-memory keyring for tests: a real ``keyring`` backend, nothing written to disk."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


class EnvKeyring(MemoryKeyring):
    """``PYTHON_KEYRING_BACKEND=tests.support.crm_emulators.EnvKeyring`` for child processes (``sufler crm …``
    in a subprocess): an in-memory keyring filled from ``SUFLER_TEST_SECRETS`` (JSON name → value, service
    ``sufler-crm``). What the child stores dies with it; nothing is written to disk."""

    def __init__(self) -> None:
        import os

        super().__init__()
        for name, value in json.loads(os.environ.get("SUFLER_TEST_SECRETS") or "{}").items():
            self.store[("sufler-crm", name)] = value


class LogCapture(logging.Handler):
    """Every log record of the process, formatted, for the scans for phones, e-mails and tokens."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def mapping_toml(amo_url: str | None = None, bitrix_url: str | None = None, *, timeout: float = 5.0,
                 auth: str = "long_lived") -> str:
    parts = []
    if amo_url:
        parts.append(f"""
[amocrm]
base_url = "{amo_url}"
auth = "{auth}"
client_id = "client-1"
redirect_uri = "https://example.org/cb"
default_pipeline = "transactional"
tags = ["Суфлёр", "звонок"]
timeout_seconds = {timeout}
[amocrm.fields]
call_id = 900001
source = 900002
next_contact = 900003
[amocrm.pipelines]
transactional = {{ pipeline = 1001, stage = 11 }}
project = {{ pipeline = 1002, stage = 21 }}
wholesale = {{ pipeline = 1002, stage = 99 }}
[amocrm.outcomes]
won = 142
refused = 143
""")
    if bitrix_url:
        parts.append(f"""
[bitrix24]
base_url = "{bitrix_url}"
user_id = 1
default_pipeline = "transactional"
timeout_seconds = {timeout}
[bitrix24.fields]
call_id = "UF_CRM_SUFLER_CALL"
next_contact = "UF_CRM_NEXT_CONTACT"
[bitrix24.pipelines]
transactional = {{ pipeline = 0, stage = "NEW" }}
project = {{ pipeline = 3, stage = "NEW" }}
wholesale = {{ pipeline = 0, stage = "NO_SUCH_STAGE" }}
[bitrix24.outcomes]
won = "WON"
refused = "LOSE"
[bitrix24.sources]
referral = "RECOMMENDATION"
""")
    return "\n".join(parts)


def worker_main(argv: list[str] | None = None) -> int:
    """Child process for the kill -9 tests: deliver the outbox of ``--db`` to one emulated target.

    Secrets come from the environment variable ``SUFLER_TEST_SECRETS`` (JSON) into a ``MemoryKeyring``;
    logs go to stderr at DEBUG (the test scans them)."""
    import os

    import keyring

    from sync.crm.amocrm import AmoCrmAdapter
    from sync.crm.backoff import BackoffPolicy
    from sync.crm.base import Adapter
    from sync.crm.bitrix24 import Bitrix24Adapter
    from sync.crm.mapping import load_mapping
    from sync.crm.outbox import Outbox
    from sync.crm.ratelimit import RateLimiter
    from sync.crm.secrets import SERVICE

    ap = argparse.ArgumentParser()
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--mapping", type=Path, required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--window", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--margin", type=float, default=0.1)
    ap.add_argument("--log-level", default="DEBUG")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    ring = MemoryKeyring()
    for name, value in json.loads(os.environ.get("SUFLER_TEST_SECRETS", "{}")).items():
        ring.set_password(SERVICE, name, value)
    keyring.set_keyring(ring)
    mapping = load_mapping(args.mapping)
    adapter: Adapter
    if args.target == "amocrm":
        assert mapping.amocrm is not None
        adapter = AmoCrmAdapter(mapping.amocrm, limiter=RateLimiter(7, args.window, margin=args.margin))
    else:
        assert mapping.bitrix24 is not None
        adapter = Bitrix24Adapter(mapping.bitrix24, limiter=RateLimiter(2, args.window, margin=args.margin))
    with Outbox(args.db, backoff=BackoffPolicy(base=args.window, cap=10 * args.window)) as outbox:
        report = outbox.deliver([adapter], wait=True, timeout=args.timeout)
    adapter.close()
    print(json.dumps({k: vars(v) for k, v in report.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(worker_main())


# ---------------------------------------------------------------------------------------------------
# log scans

TEST_SECRETS = ("amo-access-", "amo-refresh-", "amo-client-secret", "b24webhooksecretcode", "amo-typed-token")
# A Russian number as it is written or dictated: +7 or 8, then 10 digits, with the usual separators; not
# inside a longer number, a hex string or a float ("0x7f9958375290" is an address, not a phone).
PHONE_RE = re.compile(r"(?<![\w.+/-])(?:\+7|8)[\s(-]{0,2}\d{3}[\s)-]{0,2}\d{3}[\s-]?\d{2}[\s-]?\d{2}(?![\w.])")
# Also the bare national mobile number (amoCRM's contact search sends it): for the CRM tests' own logs.
MOBILE_RE = re.compile(r"(?<![\w.])9\d{2}[\s)-]{0,2}\d{3}[\s-]?\d{2}[\s-]?\d{2}(?![\w.])")
EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[^\W_][\w-]*(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")


def leak_kind(text: str, secrets: tuple[str, ...] = TEST_SECRETS, *, mobile: bool = False) -> str | None:
    """What personal data or secret ``text`` holds ("phone", "e-mail", "token"), or None."""
    if any(c.isdigit() for c in text) and (PHONE_RE.search(text) or (mobile and MOBILE_RE.search(text))):
        return "phone"
    if "@" in text and EMAIL_RE.search(text):
        return "e-mail"
    if any(s in text for s in secrets):
        return "token"
    return None


def mask(text: str, secrets: tuple[str, ...] = TEST_SECRETS) -> str:
    """The line with every phone, e-mail and secret blanked, to report where a leak was without repeating it."""
    text = EMAIL_RE.sub("<e-mail>", MOBILE_RE.sub("<phone>", PHONE_RE.sub("<phone>", text)))
    for secret in secrets:
        text = text.replace(secret, "<token>")
    return text


def leaks(lines: list[str], secrets: tuple[str, ...] = TEST_SECRETS) -> list[str]:
    """Log lines that contain a phone number (also a bare 9xx mobile), an e-mail address or a test secret."""
    return [line for line in lines if leak_kind(line, secrets, mobile=True)]


def card(i: int, **extra: Any) -> dict[str, Any]:
    """A test card with a unique phone and e-mail."""
    return {"contact_name": f"Иван Петров{i}", "company": f"Стройинвест {i}", "phone": f"+7916{i:07d}",
            "email": f"client{i}@example.ru", "city": "Казань", "budget_rub": 500000 + i,
            "next_contact_date": "2026-12-04", "pipeline": "project", "lead_source": "referral", "urgency": "medium",
            "decision_maker": True, "outcome": "next_step_agreed", "refusal_reason": None,
            "objections": ["price_too_high"], "summary": "Обсудили проект, клиент просит КП.", "compliance": 0.8,
            "talk_ratio_manager": 0.55, "checklist": {"greeting": True, "budget_question": False}, **extra}
