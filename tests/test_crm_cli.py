"""``sufler crm setup | test | push CARD | outbox [--retry] | export`` against the amoCRM and Bitrix24 emulators.

In-process through typer's ``CliRunner`` with an in-memory keyring (``keyring.set_keyring``), and as a user
runs it: ``python -m desktop.cli`` in a child process with ``SUFLER_HOME`` in tmp_path and
``PYTHON_KEYRING_BACKEND`` naming an in-memory backend importable in the child (``EnvKeyring``, filled from
``SUFLER_TEST_SECRETS``) or ``keyring.backends.fail.Keyring`` (no usable keyring). The children's stderr
goes to the run's log scan (``child_logs``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from typer.testing import CliRunner

import sync.crm.amocrm
import sync.crm.bitrix24
from desktop.cli import app
from sync.crm import connection
from sync.crm.base import marker
from sync.crm.cards_store import CardStore, calls_db_path, card_of
from sync.crm.mapping import mapping_path, parse_mapping
from sync.crm.outbox import Outbox
from sync.crm.ratelimit import RateLimiter
from sync.crm.secrets import SERVICE
from tests.conftest import ROOT
from tests.support.crm_emulators import AmoEmulator, BitrixEmulator, MemoryKeyring, card, mapping_toml

SECRETS = {"amocrm:access_token": "amo-access-0", "bitrix24:webhook": "b24webhooksecretcode"}
SCALE = 100  # in-process tests: the CRMs' limits and the client's, 100 times faster


@pytest.fixture
def ring() -> Iterator[MemoryKeyring]:
    old = keyring.get_keyring()
    backend = MemoryKeyring()
    for name, value in SECRETS.items():
        backend.set_password(SERVICE, name, value)
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(old)


@pytest.fixture
def fast_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapters' default limiters (7/s, 2/s) scaled like the emulators below."""
    for module in (sync.crm.amocrm, sync.crm.bitrix24):
        monkeypatch.setattr(module, "RateLimiter", lambda n, per: RateLimiter(n, per / SCALE))


@pytest.fixture
def amo() -> Iterator[AmoEmulator]:
    emulator = AmoEmulator(window=1.0 / SCALE)
    yield emulator
    emulator.close()


@pytest.fixture
def b24() -> Iterator[BitrixEmulator]:
    emulator = BitrixEmulator(window=1.0 / SCALE)
    yield emulator
    emulator.close()


@pytest.fixture
def real_amo() -> Iterator[AmoEmulator]:
    """For the child processes, whose adapters keep the real limits: the real 7 per second."""
    emulator = AmoEmulator()
    yield emulator
    emulator.close()


@pytest.fixture
def real_b24() -> Iterator[BitrixEmulator]:
    emulator = BitrixEmulator()
    yield emulator
    emulator.close()


def install(amo: AmoEmulator | None, b24: BitrixEmulator | None, **kw: Any) -> Path:
    path = mapping_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(mapping_toml(amo.url if amo else None, b24.url if b24 else None, **kw), encoding="utf-8")
    return path


def invoke(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(app, ["crm", *args], input=input, catch_exceptions=False)


def sufler(args: list[str], logs: list[str], *, secrets: dict[str, str] | None = None,
           backend: str = "tests.support.crm_emulators.EnvKeyring", stdout: Any = subprocess.PIPE,
           input: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHON_KEYRING_BACKEND": backend,
           "SUFLER_TEST_SECRETS": json.dumps(SECRETS if secrets is None else secrets),
           "SUFLER_EMBEDDING__MODEL": "none"}
    proc = subprocess.run([sys.executable, "-m", "desktop.cli", *args], cwd=ROOT, env=env, stdout=stdout,
                          stderr=subprocess.PIPE, input=input, text=True, timeout=timeout)
    logs.extend(proc.stderr.splitlines())
    return proc


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Ошибка: ") and "Traceback" not in stderr, stderr
    return lines[0]


def files_containing(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


# ---- setup and test ---------------------------------------------------------------------------------------

def test_setup_keeps_tokens_only_in_the_keyring_then_test_connects(tmp_path: Path, sufler_home: Path,
                                                                   fast_limits: None, b24: BitrixEmulator) -> None:
    ring = MemoryKeyring()
    old = keyring.get_keyring()
    keyring.set_keyring(ring)
    amo = AmoEmulator(window=1.0 / SCALE, token="amo-typed-token")
    try:
        source = tmp_path / "my-crm.toml"
        text = "\n".join(line for line in mapping_toml(amo.url, b24.url).splitlines() if "wholesale" not in line)
        source.write_text(text, encoding="utf-8")
        result = invoke("setup", "--mapping", str(source), input="amo-typed-token\nb24webhooksecretcode\n")
        assert result.exit_code == 0, result.output
        assert mapping_path().read_text(encoding="utf-8") == source.read_text(encoding="utf-8")
        assert ring.get_password(SERVICE, "amocrm:access_token") == "amo-typed-token"
        assert ring.get_password(SERVICE, "bitrix24:webhook") == "b24webhooksecretcode"
        assert "amo-typed-token" not in result.output
        assert files_containing(tmp_path, "amo-typed-token") == []  # the profile, the database, the mapping
        assert files_containing(tmp_path, "b24webhooksecretcode") == []

        result = invoke("test")
        assert result.exit_code == 0, result.output + result.stderr
        assert result.stdout.splitlines() == ["amoCRM: связь есть, аккаунт «Эмулятор»",
                                              "Bitrix24: связь есть, вебхук пользователя id 1, администратор"]
        # setup again: Enter keeps the stored secrets
        result = invoke("setup", input="\n\n")
        assert result.exit_code == 0 and ring.get_password(SERVICE, "amocrm:access_token") == "amo-typed-token"
    finally:
        keyring.set_keyring(old)
        amo.close()


def test_setup_without_a_mapping_writes_a_sample(ring: MemoryKeyring) -> None:
    result = invoke("setup")
    assert result.exit_code == 2
    assert "создан образец" in one_error_line(result.stderr)
    parse_mapping(mapping_path().read_text(encoding="utf-8"))  # the sample is a valid mapping to edit


def test_test_lists_mapping_mismatches(ring: MemoryKeyring, fast_limits: None, amo: AmoEmulator,
                                       b24: BitrixEmulator) -> None:
    install(amo, b24)  # "wholesale" goes to a stage neither CRM has
    result = invoke("test")
    assert result.exit_code == 1
    assert "amoCRM: связь есть, аккаунт «Эмулятор»; расхождений с crm.toml: 1" in result.stdout
    assert "  amocrm.pipelines.wholesale: в воронке 1002 нет этапа 99" in result.stdout
    assert "  bitrix24.pipelines.wholesale: в воронке 0 нет этапа NO_SUCH_STAGE" in result.stdout


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
@pytest.mark.parametrize("status", [401, 500, 503, "down"])
def test_connection_failures_are_one_plain_line(crm: str, status: int | str, ring: MemoryKeyring,
                                                fast_limits: None, amo: AmoEmulator, b24: BitrixEmulator) -> None:
    emulator: Any = amo if crm == "amocrm" else b24
    install(amo if crm == "amocrm" else None, b24 if crm == "bitrix24" else None)
    if status == 401:
        emulator.expire()
    elif status == 500:
        emulator.fail_every(500, {"error": "INTERNAL_SERVER_ERROR", "error_description": "boom"}
                            if crm == "bitrix24" else {"title": "Internal Server Error", "status": 500})
    elif status == 503:
        emulator.fail_every(503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})
    else:
        emulator.close()
    result = invoke("test")
    assert result.exit_code == 1 and result.stdout == ""
    line = one_error_line(result.stderr)
    label = "amoCRM" if crm == "amocrm" else "Bitrix24"
    expected = {401: f"Ошибка: {label}: CRM не приняла {'токен' if crm == 'amocrm' else 'вебхук'} (HTTP 401); "
                     "введите новый: sufler crm setup",
                500: f"Ошибка: {label}: ошибка на стороне CRM (HTTP 500); повторите позже",
                503: f"Ошибка: {label}: CRM просит подождать (лимит запросов, HTTP 503); повторите через минуту",
                "down": f"Ошибка: {label}: нет связи с {emulator.url.removeprefix('http://')}: сеть недоступна"}
    assert line == expected[status]


def test_test_connection_for_the_settings_dialog(fast_limits: None, amo: AmoEmulator) -> None:
    """The dialog tests a token typed in before it is saved; no keyring needed for that."""
    mapping = parse_mapping(mapping_toml(amo.url))
    result = connection.test_connection("amocrm", mapping, secrets=connection.StaticSecrets(
        {"amocrm:access_token": "amo-access-0"}))
    assert result.ok is False and result.problems == ("amocrm.pipelines.wholesale: в воронке 1002 нет этапа 99",)
    assert result.message.startswith("amoCRM: связь есть")
    wrong = connection.test_connection("amocrm", mapping, secrets=connection.StaticSecrets(
        {"amocrm:access_token": "typo"}), check_mapping=False)
    assert (wrong.ok, wrong.message) == (False, "amoCRM: CRM не приняла токен (HTTP 401); введите новый: "
                                                "sufler crm setup")
    none = connection.test_connection("amocrm", mapping, secrets=connection.StaticSecrets({}))
    assert none.message == "amoCRM: нет токена в хранилище паролей ОС"
    assert connection.test_connection("bitrix24", mapping).message == "Bitrix24: нет раздела [bitrix24] в crm.toml"


def test_oauth_connection_test_refreshes_an_expired_token_once(ring: MemoryKeyring, fast_limits: None,
                                                               amo: AmoEmulator) -> None:
    ring.set_password(SERVICE, "amocrm:refresh_token", "amo-refresh-0")
    ring.set_password(SERVICE, "amocrm:client_secret", "amo-client-secret")
    install(amo, None, auth="oauth")
    amo.expire()
    result = connection.test_connection("amocrm", check_mapping=False)
    assert result.ok and amo.refreshes == 1
    assert ring.get_password(SERVICE, "amocrm:access_token") == "amo-access-1"


# ---- no usable keyring ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["setup"], ["test"], ["push", "c1"], ["outbox", "--retry"]])
def test_no_keyring_backend_is_one_plain_line(args: list[str], sufler_home: Path, child_logs: list[str]) -> None:
    path = mapping_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(mapping_toml("http://127.0.0.1:9", "http://127.0.0.1:9"), encoding="utf-8")
    proc = sufler(["crm", *args], child_logs, backend="keyring.backends.fail.Keyring", input="amo-typed-token\n")
    assert proc.returncode == 2, proc.stderr
    line = one_error_line(proc.stderr)
    assert line.startswith("Ошибка: нет надёжного хранилища паролей ОС (keyring.backends.fail.Keyring)")
    assert "в файл токен записан не будет" in line
    assert files_containing(sufler_home, "amo-typed-token") == []


# ---- push, outbox, export ---------------------------------------------------------------------------------

def test_push_card_file_to_both_then_outbox_and_export(tmp_path: Path, ring: MemoryKeyring, fast_limits: None,
                                                       amo: AmoEmulator, b24: BitrixEmulator) -> None:
    install(amo, b24)
    path = tmp_path / "c1.json"
    path.write_text(json.dumps({**card(1), "company": "=HYPERLINK(1)"}, ensure_ascii=False), encoding="utf-8")
    result = invoke("push", str(path))
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stderr == "" and "amocrm: отправлено" in result.stdout and "bitrix24: отправлено" in result.stdout
    assert len(amo.leads_with_call("c1")) == 1 and len(b24.deals_with_call("c1")) == 1
    again = invoke("push", "c1")  # by call id: already delivered, not sent twice
    assert again.exit_code == 2 and "уже отправлена в amocrm" in one_error_line(again.stderr)
    assert len(amo.leads) == 1 and len(b24.deals) == 1

    result = invoke("outbox", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"sent": 2, "pending": 0, "retrying": 0, "dead": [], "paused": {}}
    assert invoke("outbox").stdout.startswith("Отправлено: 2  в очереди: 0  повтор: 0  требуют внимания: 0")

    result = invoke("export", "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout.lstrip("\ufeff")), delimiter=";"))
    assert [(r["call_id"], r["status"], r["phone"], r["company"]) for r in rows] == [
        ("c1", "confirmed", "+79160000001", "'=HYPERLINK(1)")]
    out = tmp_path / "cards.json"
    result = invoke("export", "--out", str(out))
    assert result.exit_code == 0 and "Карточек: 1" in result.stderr
    [exported] = json.loads(out.read_text(encoding="utf-8"))
    assert exported["call_id"] == "c1" and exported["checklist"] == {"greeting": True, "budget_question": False}
    assert invoke("export", "--format", "xml").exit_code == 2


def test_push_unknown_card_or_bad_file_is_one_line(tmp_path: Path, ring: MemoryKeyring, amo: AmoEmulator) -> None:
    install(amo, None)
    assert "нет карточки звонка с таким id" in one_error_line(invoke("push", "nope").stderr)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    result = invoke("push", str(bad))
    assert result.exit_code == 2 and "bad.json: не JSON" in one_error_line(result.stderr)
    bad.write_text(json.dumps({"card": {"phone": "не номер"}}), encoding="utf-8")
    assert one_error_line(invoke("push", str(bad)).stderr) == "Ошибка: phone: не номер телефона"
    assert amo.arrivals == []


def test_dead_letter_is_shown_and_retried_after_the_mapping_is_fixed(tmp_path: Path, ring: MemoryKeyring,
                                                                     fast_limits: None, amo: AmoEmulator) -> None:
    install(amo, None)
    path = tmp_path / "c7.json"
    path.write_text(json.dumps(card(7, pipeline="wholesale"), ensure_ascii=False), encoding="utf-8")
    result = invoke("push", str(path))
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert line.startswith("Ошибка: amocrm: CRM отклонила карточку: amocrm deal create: HTTP 400")
    assert "status_id" in line and line.endswith("исправьте и выполните: sufler crm outbox --retry")
    result = invoke("outbox")
    assert result.exit_code == 1 and "требуют внимания: 1" in result.stdout and "#1 amocrm звонок c7" in result.stdout
    text = mapping_path().read_text(encoding="utf-8").replace("stage = 99", "stage = 22")
    mapping_path().write_text(text, encoding="utf-8")
    result = invoke("outbox", "--retry")
    assert result.exit_code == 0, result.output
    assert "Отправлено: 1  в очереди: 0  повтор: 0  требуют внимания: 0" in result.stdout
    [lead] = amo.leads_with_call("c7")
    assert (lead["pipeline_id"], lead["status_id"]) == (1002, 22) and len(amo.leads) == 1


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_push_when_the_crm_answers_401_then_500_then_recovers(crm: str, tmp_path: Path, sufler_home: Path,
                                                              real_amo: AmoEmulator, real_b24: BitrixEmulator,
                                                              child_logs: list[str]) -> None:
    """As a user runs it (child processes, real rate limits): 401 → the queue pauses, one line; 500 → the card
    waits for a retry, one line; nothing lost, and ``outbox --retry`` delivers it once."""
    emulator: Any = real_amo if crm == "amocrm" else real_b24
    install(real_amo if crm == "amocrm" else None, real_b24 if crm == "bitrix24" else None)
    path = tmp_path / "c1.json"
    path.write_text(json.dumps(card(1), ensure_ascii=False), encoding="utf-8")
    emulator.expire()
    proc = sufler(["crm", "push", str(path), "--wait", "5"], child_logs)
    assert proc.returncode == 1
    line = one_error_line(proc.stderr)
    assert line.startswith(f"Ошибка: {crm}: не отправлено, очередь на паузе: нет доступа к CRM (") and "401" in line
    assert f"{crm}: в очереди" in proc.stdout

    proc = sufler(["crm", "outbox"], child_logs)
    assert proc.returncode == 1 and f"{crm}: очередь на паузе" in proc.stdout and proc.stderr == ""

    # a new token (setup), but now the CRM is broken: the card waits for a retry
    if crm == "amocrm":
        emulator.tokens = {"amo-access-0"}
    else:
        emulator.expired = False
    emulator.fail_every(500, {"title": "Internal Server Error", "status": 500} if crm == "amocrm"
                        else {"error": "INTERNAL_SERVER_ERROR", "error_description": "boom"})
    proc = sufler(["crm", "outbox", "--retry", "--wait", "2"], child_logs)
    assert proc.returncode == 0 and "повтор: 1" in proc.stdout, proc.stdout + proc.stderr
    with Outbox(calls_db_path()) as ob:
        [row] = ob.conn.execute("SELECT status, attempts, last_error FROM outbox").fetchall()
        assert row["status"] == "retrying" and row["attempts"] >= 1 and "HTTP 500" in row["last_error"]

    emulator.fail_every(None)
    with Outbox(calls_db_path()) as ob:  # due now (the user need not wait for the backoff)
        ob.conn.execute("UPDATE outbox SET next_attempt_at = 0")
    proc = sufler(["crm", "outbox", "--retry"], child_logs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Отправлено: 1  в очереди: 0  повтор: 0  требуют внимания: 0" in proc.stdout
    assert len(emulator.leads_with_call("c1") if crm == "amocrm" else emulator.deals_with_call("c1")) == 1


def test_push_retrying_card_is_one_line(tmp_path: Path, sufler_home: Path, real_amo: AmoEmulator,
                                        child_logs: list[str]) -> None:
    install(real_amo, None)
    path = tmp_path / "c2.json"
    path.write_text(json.dumps(card(2), ensure_ascii=False), encoding="utf-8")
    real_amo.fail_every(500, {"title": "Internal Server Error", "status": 500})
    proc = sufler(["crm", "push", str(path), "--wait", "1"], child_logs)
    assert proc.returncode == 1
    line = one_error_line(proc.stderr)
    assert line.startswith("Ошибка: amocrm: не отправлено, повтор позже (amocrm contact search: HTTP 500")
    assert line.endswith("см. sufler crm outbox")


# ---- analyze → push ---------------------------------------------------------------------------------------

CALL = [
    {"call_id": "syn-crm-1", "started_at": "2026-12-03T10:00:00+03:00", "direction": "inbound"},
    {"speaker": "manager", "start": 0.0, "end": 3.0, "text": "компания теплодом здравствуйте меня зовут сергей"},
    {"speaker": "client", "start": 3.5, "end": 9.0,
     "text": "добрый день меня зовут павел андреевич гусев я главный инженер завода ростсталь из липецка"},
    {"speaker": "manager", "start": 9.5, "end": 14.0, "text": "павел андреевич очень приятно откуда о нас узнали"},
    {"speaker": "client", "start": 14.5, "end": 17.0, "text": "коллеги с другого завода порекомендовали"},
    {"speaker": "manager", "start": 17.5, "end": 22.0,
     "text": "понял а какой бюджет на котельную правильно понимаю пятьсот тысяч"},
    {"speaker": "client", "start": 22.5, "end": 26.0, "text": "нет не пятьсот а семьсот заложено"},
    {"speaker": "client", "start": 26.2, "end": 31.0,
     "text": "но решение принимает генеральный директор я только готовлю предложение"},
    {"speaker": "manager", "start": 31.5, "end": 38.0, "text": "хорошо а сроки какие"},
    {"speaker": "client", "start": 38.5, "end": 42.0, "text": "котельная нужна к отопительному сезону до октября"},
    {"speaker": "manager", "start": 42.5, "end": 50.0,
     "text": "тогда предлагаю встречу с расчетом окупаемости через две недели в четверг удобно"},
    {"speaker": "client", "start": 50.5, "end": 53.0,
     "text": "да давайте запишите почту гусев собака ростсталь точка ру"},
    {"speaker": "client", "start": 53.2, "end": 58.0,
     "text": "и телефон восемь девятьсот шесть двести ноль один ноль два ноль три"},
    {"speaker": "manager", "start": 58.5, "end": 61.0, "text": "записал до встречи павел андреевич"},
    {"speaker": "client", "start": 61.5, "end": 62.5, "text": "до свидания"},
]


def test_analyze_json_then_push_delivers_the_card_with_summary_and_checklist(
        tmp_path: Path, sufler_home: Path, real_amo: AmoEmulator, child_logs: list[str]) -> None:
    install(real_amo, None)
    call = tmp_path / "call.jsonl"
    call.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in CALL) + "\n", encoding="utf-8")
    card_file = tmp_path / "card.json"
    with card_file.open("w", encoding="utf-8") as out:  # sufler analyze CALL.jsonl --json > card.json
        proc = sufler(["analyze", str(call), "--json"], child_logs, stdout=out, timeout=400)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(card_file.read_text(encoding="utf-8"))
    assert result["card"]["phone"] == "+79062010203" and result["checklist"]

    proc = sufler(["crm", "push", str(card_file)], child_logs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "amocrm: отправлено" in proc.stdout

    with CardStore(calls_db_path()) as store:  # the card with its extra keys, and the result's checklist
        stored = store.get("syn-crm-1")
        assert stored is not None and stored.status == "confirmed"
        assert {"evidence", "longest_monologue", "interest_drop", "checklist"} <= set(stored.card)
        assert stored.card["evidence"]["phone"]["utterance"] == 11
        assert stored.card["checklist"] == card_of(result)["checklist"] == result["checklist"]
    [lead] = real_amo.leads_with_call("syn-crm-1")
    assert lead["pipeline_id"] == 1002 and lead["price"] == 700_000
    [contact] = real_amo.contacts.values()
    assert lead["_embedded"]["contacts"] == [{"id": contact["id"]}]
    [note] = [n for n in real_amo.notes.values() if n["entity_id"] == lead["id"]]
    text = note["params"]["text"]
    assert text.startswith(f"Итог звонка: {result['card']['summary']}")
    checklist = "; ".join(f"{'✓' if done else '✗'} {step}" for step, done in result["checklist"].items())
    assert f"Чек-лист: {checklist}" in text and marker("syn-crm-1") in text
    [task] = [t for t in real_amo.tasks.values() if t["entity_id"] == lead["id"]]
    assert task["complete_till"] > 0
