"""CRM delivery against the local amoCRM and Bitrix24 emulators (real HTTP on loopback, real SQLite)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import keyring
import pytest

from sync.crm.amocrm import AmoCrmAdapter
from sync.crm.backoff import BackoffPolicy
from sync.crm.base import marker
from sync.crm.bitrix24 import Bitrix24Adapter
from sync.crm.cards_store import CardStore, calls_db_path
from sync.crm.mapping import CrmMapping, parse_mapping
from sync.crm.outbox import Outbox
from sync.crm.ratelimit import RateLimiter
from sync.crm.secrets import SERVICE
from tests.support.crm_emulators import (
    AmoEmulator,
    BitrixEmulator,
    LogCapture,
    MemoryKeyring,
    card,
    leaks,
    mapping_toml,
)

AMO_W = 0.05   # amoCRM: 7 requests per AMO_W seconds (the real limit is 7 per 1 s)
B24_W = 0.01   # Bitrix24: drains 2 requests per B24_W seconds, bucket of 50 (real: 2 per 1 s)


@pytest.fixture(autouse=True)
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    root = logging.getLogger()
    old = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    yield capture
    root.removeHandler(capture)
    root.setLevel(old)
    found = leaks(capture.lines)
    assert not found, f"personal data or a secret in the logs: {len(found)} lines"


@pytest.fixture
def ring() -> Iterator[MemoryKeyring]:
    old = keyring.get_keyring()
    backend = MemoryKeyring()
    backend.set_password(SERVICE, "amocrm:access_token", "amo-access-0")
    backend.set_password(SERVICE, "amocrm:refresh_token", "amo-refresh-0")
    backend.set_password(SERVICE, "amocrm:client_secret", "amo-client-secret")
    backend.set_password(SERVICE, "bitrix24:webhook", "b24webhooksecretcode")
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(old)


@pytest.fixture
def amo() -> Iterator[AmoEmulator]:
    emulator = AmoEmulator(window=AMO_W)
    yield emulator
    emulator.close()


@pytest.fixture
def b24() -> Iterator[BitrixEmulator]:
    emulator = BitrixEmulator(window=B24_W)
    yield emulator
    emulator.close()


def mapping(amo: AmoEmulator | None, b24: BitrixEmulator | None, **kw: Any) -> CrmMapping:
    return parse_mapping(mapping_toml(amo.url if amo else None, b24.url if b24 else None, **kw))


def adapters(m: CrmMapping) -> list[Any]:
    out: list[Any] = []
    if m.amocrm is not None:
        out.append(AmoCrmAdapter(m.amocrm, limiter=RateLimiter(7, AMO_W)))
    if m.bitrix24 is not None:
        out.append(Bitrix24Adapter(m.bitrix24, limiter=RateLimiter(2, B24_W)))
    return out


def queue(cards: dict[str, dict[str, Any]], targets: list[str]) -> None:
    with CardStore(calls_db_path()) as store:
        for call_id, c in cards.items():
            store.save_draft(call_id, c)
            store.confirm(call_id, targets)


def outbox() -> Outbox:
    return Outbox(calls_db_path(), backoff=BackoffPolicy(base=0.02, cap=0.5))


def assert_once_amo(amo: AmoEmulator, call_ids: list[str], *, tasks: bool = True) -> None:
    for call_id in call_ids:
        leads = amo.leads_with_call(call_id)
        assert len(leads) == 1, call_id
        lead_id = leads[0]["id"]
        notes = [n for n in amo.notes.values() if n["entity_id"] == lead_id and marker(call_id) in n["params"]["text"]]
        assert len(notes) == 1, call_id
        got = [t for t in amo.tasks.values() if t["entity_id"] == lead_id]
        assert len(got) == (1 if tasks else 0), call_id
    phones = Counter(v["value"] for c in amo.contacts.values() for cf in c.get("custom_fields_values", [])
                     if cf["field_code"] == "PHONE" for v in cf["values"])
    assert max(phones.values(), default=1) == 1


def assert_once_b24(b24: BitrixEmulator, call_ids: list[str]) -> None:
    for call_id in call_ids:
        deals = b24.deals_with_call(call_id)
        assert len(deals) == 1, call_id
        deal_id = deals[0]["ID"]
        assert len([c for c in b24.comments.values() if str(c["ENTITY_ID"]) == deal_id]) == 1, call_id
        assert len([a for a in b24.activities.values() if a["OWNER_ID"] == deal_id]) == 1, call_id
    phones = Counter(p["VALUE"] for c in b24.contacts.values() for p in c.get("PHONE", []))
    assert max(phones.values(), default=1) == 1


def test_both_crms_step_by_step_with_existing_contact(ring: MemoryKeyring, amo: AmoEmulator,
                                                      b24: BitrixEmulator) -> None:
    amo_contact = amo.add_contact("Иван", "8 (916) 000-00-01")  # the CRM's own format
    b24_contact = b24.add_contact("Иван", "+7 916 000-00-01")
    queue({"c1": card(1), "c2": card(2, next_contact_date=None, pipeline="won-unknown")}, ["amocrm", "bitrix24"])
    m = mapping(amo, b24)
    with outbox() as ob:
        report = ob.deliver(adapters(m), wait=True, timeout=30)
        assert report["amocrm"].sent == 2 and report["bitrix24"].sent == 2
        status = ob.status()
        assert (status.sent, status.pending, status.retrying, status.dead) == (4, 0, 0, 0)
        ids = ob.remote_ids(1)
    assert ids["contact"] == str(amo_contact) and ids["task"]
    lead = amo.leads_with_call("c1")[0]
    assert lead["pipeline_id"] == 1002 and lead["status_id"] == 21 and lead["price"] == 500001
    assert lead["_embedded"]["contacts"] == [{"id": amo_contact}]
    assert {t["name"] for t in lead["_embedded"]["tags"]} == {"Суфлёр", "звонок"}
    other = amo.leads_with_call("c2")[0]
    assert other["pipeline_id"] == 1001  # unknown pipeline → the default one
    assert_once_amo(amo, ["c1"])
    assert [t for t in amo.tasks.values() if t["entity_id"] == other["id"]] == []  # no date, no task
    deal = b24.deals_with_call("c1")[0]
    assert deal["CONTACT_IDS"] == [b24_contact] and deal["STAGE_ID"] == "C3:NEW"
    assert deal["SOURCE_ID"] == "RECOMMENDATION" and deal["UF_CRM_SUFLER_CALL"] == "c1"
    assert len(b24.contacts) == 2  # one existing, one created for c2
    note = next(iter(b24.comments.values()))["COMMENT"]
    assert "Чек-лист: ✓ greeting; ✗ budget_question" in note and "Выполнение скрипта: 80%" in note


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_timeout_after_a_successful_create_finds_the_deal(crm: str, ring: MemoryKeyring, amo: AmoEmulator,
                                                         b24: BitrixEmulator) -> None:
    emulator = amo if crm == "amocrm" else b24
    emulator.hang_after_create("leads" if crm == "amocrm" else "deals", seconds=1.5)
    queue({"c1": card(1)}, [crm])
    m = mapping(amo if crm == "amocrm" else None, b24 if crm == "bitrix24" else None, timeout=0.3)
    with outbox() as ob:
        report = ob.deliver(adapters(m), wait=True, timeout=30)
        assert report[crm].retried == 1 and report[crm].sent == 1 and emulator.hang_event.is_set()
        assert ob.status().sent == 1
    if crm == "amocrm":
        assert_once_amo(amo, ["c1"])
    else:
        assert_once_b24(b24, ["c1"])


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_rejected_card_is_a_dead_letter_and_others_flow(crm: str, ring: MemoryKeyring, amo: AmoEmulator,
                                                        b24: BitrixEmulator) -> None:
    cards = {f"c{i}": card(i) for i in range(1, 6)}
    cards["c1"]["pipeline"] = "wholesale"  # mapped to a stage the CRM does not have → 400
    queue(cards, [crm])
    m = mapping(amo if crm == "amocrm" else None, b24 if crm == "bitrix24" else None)
    with outbox() as ob:
        report = ob.deliver(adapters(m), wait=True, timeout=30)
        assert report[crm].dead == 1 and report[crm].sent == 4
        status = ob.status()
        assert status.sent == 4 and status.dead == 1 and status.needs_attention == 1
        [dead] = status.dead_letters
        assert dead.call_id == "c1" and dead.attempts == 1 and "400" in dead.reason
        assert ("status_id" in dead.reason) if crm == "amocrm" else ("ERROR_CORE" in dead.reason)
        # fixed mapping → retried → delivered once
        fixed = mapping(amo if crm == "amocrm" else None, b24 if crm == "bitrix24" else None)
        section: Any = fixed.amocrm or fixed.bitrix24
        section.pipelines["wholesale"] = section.pipelines["project"]
        assert ob.retry_dead(dead.id) == 1
        ob.deliver(adapters(fixed), wait=True, timeout=30)
        assert ob.status().sent == 5
    if crm == "amocrm":
        assert_once_amo(amo, list(cards))
    else:
        assert_once_b24(b24, list(cards))


def test_401_refreshes_the_oauth_token_once(ring: MemoryKeyring, amo: AmoEmulator) -> None:
    queue({"c1": card(1), "c2": card(2)}, ["amocrm"])
    m = mapping(amo, None, auth="oauth")
    amo.expire()
    with outbox() as ob:
        report = ob.deliver(adapters(m), wait=True, timeout=30)
        assert report["amocrm"].sent == 2 and report["amocrm"].paused is None
    assert amo.refreshes == 1
    assert ring.get_password(SERVICE, "amocrm:refresh_token") == "amo-refresh-1"  # rotated and stored
    assert ring.get_password(SERVICE, "amocrm:access_token") == "amo-access-1"
    assert_once_amo(amo, ["c1", "c2"])


def test_401_after_refresh_pauses_without_spending_attempts(ring: MemoryKeyring, amo: AmoEmulator) -> None:
    queue({"c1": card(1), "c2": card(2)}, ["amocrm"])
    m = mapping(amo, None, auth="oauth")
    amo.expire()
    amo.refresh_token = "revoked-elsewhere"
    with outbox() as ob:
        report = ob.deliver(adapters(m), wait=True, timeout=30)
        assert report["amocrm"].paused and report["amocrm"].sent == 0
        status = ob.status()
        assert "amocrm" in status.paused and status.pending == 2 and status.needs_attention == 1
        assert {r[0] for r in ob.conn.execute("SELECT attempts FROM outbox")} == {0}
        before = len(amo.arrivals)
        assert ob.deliver(adapters(m), wait=True, timeout=5)["amocrm"].paused  # stays paused, sends nothing
        assert len(amo.arrivals) == before
        # the manager enters a new token (sufler crm setup), the queue resumes
        amo.tokens = {"amo-access-new"}
        ring.set_password(SERVICE, "amocrm:access_token", "amo-access-new")
        ob.resume("amocrm")
        assert ob.deliver(adapters(m), wait=True, timeout=30)["amocrm"].sent == 2
    assert amo.refreshes == 0
    assert_once_amo(amo, ["c1", "c2"])


def test_bitrix_expired_webhook_pauses(ring: MemoryKeyring, b24: BitrixEmulator) -> None:
    queue({"c1": card(1)}, ["bitrix24"])
    b24.expire()
    with outbox() as ob:
        report = ob.deliver(adapters(mapping(None, b24)), wait=True, timeout=10)
        assert report["bitrix24"].paused and "expired_token" in report["bitrix24"].paused
        assert ob.status().pending == 1
    assert len(b24.arrivals) == 1


def test_retry_after_is_honoured(ring: MemoryKeyring, amo: AmoEmulator) -> None:
    """Server-side: after a 429 with Retry-After: 1 the next request arrives no sooner than 1 s later."""
    queue({"c1": card(1)}, ["amocrm"])
    amo.fail_next(429, {"title": "Too Many Requests", "status": 429}, {"Retry-After": "1"})
    with outbox() as ob:
        ob.deliver(adapters(mapping(amo, None)), wait=True, timeout=30)
        assert ob.status().sent == 1
    assert amo.arrivals[1] - amo.arrivals[0] >= 1.0
    assert_once_amo(amo, ["c1"])
