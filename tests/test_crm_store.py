"""The card store, the mapping file, export, secrets and backoff (no network)."""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.crm import secrets
from sync.crm.backoff import BackoffPolicy, parse_retry_after
from sync.crm.cards_store import CardError, CardStore, calls_db_path
from sync.crm.errors import ConfigError, SecretsError
from sync.crm.export import to_csv, to_json
from sync.crm.mapping import load_mapping, parse_mapping
from tests.support.crm_emulators import LogCapture, MemoryKeyring, card, leaks, mapping_toml


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
    assert not leaks(capture.lines), "personal data or a secret in the logs"


@pytest.fixture
def ring() -> Iterator[MemoryKeyring]:
    old = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(old)


def test_draft_edit_confirm_history() -> None:
    with CardStore(calls_db_path()) as store:
        store.save_draft("c1", card(1, phone="8 (916) 000-00-01"), who="engine")
        assert store.get("c1").card["phone"] == "+79160000001"  # type: ignore[union-attr]
        store.edit("c1", "budget_rub", 700000, who="anna")
        store.edit("c1", "phone", "+7 916 000 00 02", who="anna")
        ids = store.confirm("c1", ["amocrm", "bitrix24"], who="anna")
        stored = store.get("c1")
        assert stored is not None and stored.status == "confirmed" and stored.version == 3
        assert stored.card["budget_rub"] == 700000 and stored.card["phone"] == "+79160000002"
        assert stored.card["checklist"] == {"greeting": True, "budget_question": False}  # extra keys kept
        history = store.history("c1")
        assert [(h.kind, h.field) for h in history] == [("draft", None), ("edit", "budget_rub"), ("edit", "phone"),
                                                        ("confirm", None)]
        assert history[1].old == 500001 and history[1].new == 700000 and history[1].who == "anna"
        rows = store.conn.execute("SELECT id, target, status, payload FROM outbox ORDER BY id").fetchall()
        assert [r["id"] for r in rows] == ids and [r["target"] for r in rows] == ["amocrm", "bitrix24"]
        assert all(json.loads(r["payload"])["budget_rub"] == 700000 and r["status"] == "pending" for r in rows)


def test_bad_edits_are_refused_by_field_name() -> None:
    with CardStore(calls_db_path()) as store:
        store.save_draft("c1", card(1))
        for field, value in [("phone", "не помню"), ("email", "ivan собака"), ("budget_rub", -5),
                             ("next_contact_date", "через вторник"), ("nonsense", 1), ("decision_maker", "да")]:
            with pytest.raises(CardError, match=field):
                store.edit("c1", field, value, who="anna")
        with pytest.raises(CardError, match="нет карточки звонка missing"):
            store.edit("missing", "city", "Москва", who="anna")
        with pytest.raises(CardError, match="pipedrive"):
            store.confirm("c1", ["amocrm", "pipedrive"])
        assert store.get("c1").status == "draft"  # type: ignore[union-attr]
        assert store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_confirm_is_one_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while queueing the second target leaves neither the confirmation nor the first row."""
    with CardStore(calls_db_path()) as store:
        store.save_draft("c1", card(1))
        real = CardStore._queue
        calls = []

        def flaky(self: CardStore, call_id: str, target: str, payload: str, now: float) -> int:
            calls.append(target)
            if target == "bitrix24":
                raise sqlite3.OperationalError("disk I/O error")
            return real(self, call_id, target, payload, now)

        monkeypatch.setattr(CardStore, "_queue", flaky)
        with pytest.raises(sqlite3.OperationalError):
            store.confirm("c1", ["amocrm", "bitrix24"])
        assert calls == ["amocrm", "bitrix24"]
    with CardStore(calls_db_path()) as fresh:
        assert fresh.get("c1").status == "draft"  # type: ignore[union-attr]
        assert fresh.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
        assert [h.kind for h in fresh.history("c1")] == ["draft"]


def test_reconfirm_before_delivery_updates_the_row_after_delivery_refuses() -> None:
    with CardStore(calls_db_path()) as store:
        store.save_draft("c1", card(1))
        [first] = store.confirm("c1", ["amocrm"])
        store.edit("c1", "city", "Самара", who="anna")
        assert store.confirm("c1", ["amocrm"]) == [first]
        payload = json.loads(store.conn.execute("SELECT payload FROM outbox").fetchone()[0])
        assert payload["city"] == "Самара"
        store.conn.execute("UPDATE outbox SET status = 'sent'")
        with pytest.raises(CardError, match="уже отправлена"):
            store.confirm("c1", ["amocrm"])


def test_mapping_example_and_every_problem_listed(tmp_path: Path) -> None:
    mapping = parse_mapping(mapping_toml("https://a.amocrm.ru", "https://b.bitrix24.ru"))
    assert mapping.targets() == ["amocrm", "bitrix24"]
    assert mapping.amocrm is not None and mapping.amocrm.stage_for("project", "won").stage == 142  # type: ignore[union-attr]
    assert mapping.amocrm.stage_for("nurturing", None).pipeline == 1001  # type: ignore[union-attr]  # default
    bad = """
[amocrm]
base_url = "ftp://x"
colour = "red"
[amocrm.fields]
source = "not-a-number-is-fine"
[amocrm.pipelines]
project = { pipeline = 1, stage = "x" }
"""
    with pytest.raises(ConfigError) as exc:
        parse_mapping(bad, "crm.toml")
    text = str(exc.value)
    assert "crm.toml: amocrm.base_url: нужен адрес" in text and "amocrm.colour: неизвестный ключ" in text
    unknown = mapping_toml("https://a.amocrm.ru").replace("project =", "projekt =")
    with pytest.raises(ConfigError, match=r"amocrm.pipelines.projekt: неизвестный id"):
        parse_mapping(unknown)
    no_call_field = mapping_toml("https://a.amocrm.ru").replace("call_id = 900001\n", "")
    with pytest.raises(ConfigError, match="call_id"):
        parse_mapping(no_call_field)
    with pytest.raises(ConfigError, match="не TOML"):
        parse_mapping("[amocrm")
    with pytest.raises(ConfigError, match="sufler crm setup"):
        load_mapping(tmp_path / "none.toml")


def test_export_json_and_csv_without_formulas() -> None:
    with CardStore(calls_db_path()) as store:
        store.save_draft("c1", card(1, company="=HYPERLINK(\"http://x\")", summary="-2+3 итог"))
        store.save_draft("c2", card(2))
        cards = store.cards()
    data = json.loads(to_json(cards))
    assert [d["call_id"] for d in data] == ["c1", "c2"] and data[0]["phone"] == "+79160000001"
    rows = list(csv.DictReader(io.StringIO(to_csv(cards).lstrip("\ufeff")), delimiter=";"))
    assert rows[0]["company"].startswith("'=") and rows[0]["phone"] == "+79160000001"
    assert rows[0]["summary"] == "-2+3 итог" and rows[0]["objections"] == "price_too_high"
    assert rows[1]["decision_maker"] == "да"


def test_secrets_in_keyring_only(ring: MemoryKeyring, sufler_home: Path) -> None:
    secrets.set_secret("amocrm:access_token", "amo-access-secret-value")
    assert secrets.get_secret("amocrm:access_token") == "amo-access-secret-value"
    assert ring.store[("sufler-crm", "amocrm:access_token")] == "amo-access-secret-value"
    on_disk = [p for p in sufler_home.rglob("*") if p.is_file() and b"amo-access-secret" in p.read_bytes()]
    assert on_disk == []
    with pytest.raises(SecretsError, match="sufler crm setup"):
        secrets.require_secret("bitrix24:webhook")


def test_unsafe_keyrings_are_refused() -> None:
    old = keyring.get_keyring()

    class PlaintextKeyring(MemoryKeyring):
        pass

    PlaintextKeyring.__module__ = "keyrings.alt.file"
    try:
        for backend in (keyring.backends.fail.Keyring(), PlaintextKeyring()):
            keyring.set_keyring(backend)
            with pytest.raises(SecretsError, match="нет надёжного хранилища паролей"):
                secrets.set_secret("amocrm:access_token", "amo-access-x")
            with pytest.raises(SecretsError):
                secrets.get_secret("amocrm:access_token")
    finally:
        keyring.set_keyring(old)


def test_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0 and parse_retry_after("0.25") == 0.25
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None and parse_retry_after("nan") is None
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


@given(attempts=st.integers(min_value=1, max_value=10_000),
       retry_after=st.one_of(st.none(), st.floats(min_value=0, max_value=1e9)))
def test_backoff_is_jittered_capped_and_honours_retry_after(attempts: int, retry_after: float | None) -> None:
    policy = BackoffPolicy(base=1.0, cap=300.0, retry_after_cap=3600.0)
    delay = policy.delay(attempts, retry_after)
    assert 0 <= delay <= max(300.0, min(retry_after or 0, 3600.0))
    if retry_after is not None:
        assert delay >= min(retry_after, 3600.0)
    assert policy.delay(attempts) <= min(300.0, 2 ** (attempts - 1))


def test_the_wrapup_card_with_its_extra_keys_is_stored_and_its_note_has_summary_and_checklist() -> None:
    """``assist.wrapup.build_card`` (with ``evidence``, ``longest_monologue``, ``interest_drop``) as the live
    session's result hands it over: stored as it is, and the note carries the summary and the checklist."""
    from assist.wrapup import build_card
    from sync.crm.base import note_text
    from sync.crm.cards_store import card_of
    from tests.test_extract_card import CALL, make

    built = build_card(make(CALL), ["need_proof", "not_decision_maker"], 0.5)
    result = {"call_id": "syn-1", "card": built, "checklist": {"greeting": True, "budget_question": True,
                                                               "next_step": False}}
    with CardStore(calls_db_path()) as store:
        stored = store.save_draft("syn-1", card_of(result))
        assert json.loads(json.dumps(built)) == {k: v for k, v in stored.card.items() if k != "checklist"}
        assert {"evidence", "longest_monologue", "interest_drop"} <= set(stored.card)
        store.edit("syn-1", "budget_rub", 750_000, who="anna")
        store.confirm("syn-1", ["amocrm"])
        [payload] = [json.loads(r[0]) for r in store.conn.execute("SELECT payload FROM outbox")]
    assert payload["evidence"] == stored.card["evidence"] and payload["budget_rub"] == 750_000
    text = note_text("syn-1", payload)
    assert text.splitlines()[0] == f"Итог звонка: {built['summary']}"
    assert "Чек-лист: ✓ greeting; ✓ budget_question; ✗ next_step" in text
    assert "Выполнение скрипта: 50%" in text and "Возражения: need_proof, not_decision_maker" in text
