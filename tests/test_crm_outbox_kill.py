"""The outbox in child processes against the emulators: a 1,000-card 429/503 storm, and ``kill -9``
between (and inside) delivery steps. The child is ``python -m tests.support.crm_emulators``; its logs
(stderr) are scanned for phones, e-mails and tokens, here and with the whole run's logs (``child_logs``)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from sync.crm.base import marker
from sync.crm.cards_store import CardStore
from sync.crm.outbox import Outbox
from tests.support.crm_emulators import AmoEmulator, BitrixEmulator, card, leaks, mapping_toml

ROOT = Path(__file__).resolve().parent.parent
SECRETS = json.dumps({"amocrm:access_token": "amo-access-0", "bitrix24:webhook": "b24webhooksecretcode"})


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """The emulators' threads share this process's GIL: switch often so that a request's arrival time is
    taken when it arrives (the server-side rate count is only as exact as that timestamp)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.002)
    yield
    sys.setswitchinterval(old)


def start_worker(db: Path, mapping: Path, target: str, window: float, *, margin: float = 0.3,
                 log_level: str = "DEBUG", timeout: float = 100.0) -> subprocess.Popen[str]:
    env = {**os.environ, "SUFLER_TEST_SECRETS": SECRETS}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.crm_emulators", "--db", str(db), "--mapping", str(mapping),
         "--target", target, "--window", str(window), "--margin", str(margin), "--log-level", log_level,
         "--timeout", str(timeout)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], logs: list[str]) -> dict[str, Any]:
    out, errs = proc.communicate(timeout=150)
    logs.extend(errs.splitlines())
    assert proc.returncode == 0, errs[-2000:]
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return report


def kill(proc: subprocess.Popen[str], logs: list[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    _, errs = proc.communicate(timeout=30)
    logs.extend(errs.splitlines())
    assert proc.returncode == -signal.SIGKILL


def queue(db: Path, cards: dict[str, dict[str, Any]], targets: list[str]) -> None:
    with CardStore(db) as store:
        for call_id, c in cards.items():
            store.save_draft(call_id, c)
            store.confirm(call_id, targets)


def amo_counts(amo: AmoEmulator, call_ids: list[str]) -> None:
    """Each call: exactly one lead (by the call-id field), one note with its marker, one task; no phone on two
    contacts. Grouped once (the 1,000-card test would spend seconds on a scan per call)."""
    leads: dict[str, list[dict[str, Any]]] = {}
    for lead in amo.leads.values():
        for cf in lead.get("custom_fields_values", []):
            if cf.get("field_id") == amo.lead_fields[0]:
                for v in cf.get("values", []):
                    leads.setdefault(v.get("value"), []).append(lead)
    # the marker is the note's last line
    notes = Counter((n["entity_id"], n["params"]["text"].rsplit("\n", 1)[-1]) for n in amo.notes.values())
    tasks = Counter(t["entity_id"] for t in amo.tasks.values())
    for call_id in call_ids:
        [lead] = leads.get(call_id, [])
        assert notes[(lead["id"], marker(call_id))] == 1, call_id
        assert tasks[lead["id"]] == 1, call_id
    phones = Counter(v["value"] for c in amo.contacts.values() for cf in c.get("custom_fields_values", [])
                     if cf["field_code"] == "PHONE" for v in cf["values"])
    assert max(phones.values(), default=1) == 1


def b24_counts(b24: BitrixEmulator, call_ids: list[str]) -> None:
    deals: dict[str, list[dict[str, Any]]] = {}
    for deal in b24.deals.values():
        deals.setdefault(deal.get("ORIGIN_ID"), []).append(deal)
    comments = Counter(str(c["ENTITY_ID"]) for c in b24.comments.values())
    activities = Counter(a["OWNER_ID"] for a in b24.activities.values())
    for call_id in call_ids:
        [deal] = deals.get(call_id, [])
        assert comments[deal["ID"]] == 1, call_id
        assert activities[deal["ID"]] == 1, call_id
    phones = Counter(p["VALUE"] for c in b24.contacts.values() for p in c.get("PHONE", []))
    assert max(phones.values(), default=1) == 1


def test_1000_cards_through_a_429_503_storm_arrive_once_within_the_limits(tmp_path: Path, fast_switching: None,
                                                                          child_logs: list[str]) -> None:
    """Both CRMs at once, each limit scaled in time (amoCRM 7 per 25 ms, Bitrix24 drains 2 per 5 ms, bucket
    50); the database lives on tmpfs when there is one: this test is about the protocol, not fsync speed
    (the kill tests below use the disk)."""
    shm = Path("/dev/shm")
    base = Path(os.environ.get("SUFLER_TEST_TMPFS", shm)) if shm.is_dir() else tmp_path
    work = Path(__import__("tempfile").mkdtemp(dir=base, prefix="sufler-storm-"))
    try:
        amo, b24 = AmoEmulator(window=0.025), BitrixEmulator(window=0.005)
        n = 1000
        cards = {f"call-{i:04d}": card(i) for i in range(n)}
        for i in range(0, n, 2):  # half the clients are already in the CRMs
            amo.add_contact(f"Клиент {i}", f"8 916 {i:07d}")
            b24.add_contact(f"Клиент {i}", f"+7916{i:07d}")
        db, mapping = work / "calls.db", work / "crm.toml"
        mapping.write_text(mapping_toml(amo.url, b24.url), encoding="utf-8")
        queue(db, cards, ["amocrm", "bitrix24"])
        amo.storm(start=200, count=4000, probability=0.25)  # 429
        b24.storm(start=200, count=4000, probability=0.25)  # 503 QUERY_LIMIT_EXCEEDED
        logs = child_logs  # also scanned at the end of the run
        workers = [start_worker(db, mapping, "amocrm", 0.025, log_level="INFO"),
                   start_worker(db, mapping, "bitrix24", 0.005, log_level="INFO")]
        with ThreadPoolExecutor(len(workers)) as pool:  # read both pipes at once: a full stderr pipe stalls a worker
            reports = list(pool.map(lambda w: finish(w, logs), workers))
        with Outbox(db) as ob:
            status = ob.status()
        amo.close()
        b24.close()
        assert status.sent == 2 * n and status.pending == status.retrying == status.dead == 0, status
        assert amo.injected > 300 and b24.injected > 300
        assert reports[0]["amocrm"]["retried"] == amo.injected and reports[1]["bitrix24"]["retried"] == b24.injected
        assert amo.violations == 0 and b24.violations == 0  # the CRMs' own rate rules never tripped
        assert amo.max_in_window(0.025) <= 7
        assert len(amo.leads) == n and len(b24.deals) == n
        amo_counts(amo, list(cards))
        b24_counts(b24, list(cards))
        assert not leaks(logs) and any("sent" in line for line in logs)
    finally:
        __import__("shutil").rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
@pytest.mark.parametrize("kind", ["contacts", "deal", "note", "task"])
def test_kill_9_after_a_create_before_its_id_is_stored(tmp_path: Path, crm: str, kind: str,
                                                       child_logs: list[str]) -> None:
    """The CRM has created the entity, the answer never arrives, the process is killed: the next run
    finds it (phone, call id, marker) and creates nothing twice."""
    amo, b24 = AmoEmulator(window=0.05), BitrixEmulator(window=0.01)
    try:
        names = {"amocrm": {"contacts": "contacts", "deal": "leads", "note": "notes", "task": "tasks"},
                 "bitrix24": {"contacts": "contacts", "deal": "deals", "note": "comments", "task": "activities"}}
        emulator: Any = amo if crm == "amocrm" else b24
        emulator.hang_after_create(names[crm][kind], seconds=None)
        db, mapping = tmp_path / "calls.db", tmp_path / "crm.toml"
        mapping.write_text(mapping_toml(amo.url, b24.url, timeout=60), encoding="utf-8")
        queue(db, {"c1": card(1), "c2": card(2)}, [crm])
        logs = child_logs  # also scanned at the end of the run
        window = 0.05 if crm == "amocrm" else 0.01
        proc = start_worker(db, mapping, crm, window)
        assert emulator.hang_event.wait(30)
        kill(proc, logs)
        emulator.release.set()
        report = finish(start_worker(db, mapping, crm, window), logs)
        assert report[crm]["sent"] == 2
        (amo_counts if crm == "amocrm" else b24_counts)(emulator, ["c1", "c2"])
        assert len(emulator.contacts) == 2
        assert not leaks(logs)
    finally:
        amo.close()
        b24.close()


def test_kill_9_at_random_points_resumes_without_duplicates(tmp_path: Path, child_logs: list[str]) -> None:
    amo = AmoEmulator(window=0.05)
    try:
        db, mapping = tmp_path / "calls.db", tmp_path / "crm.toml"
        mapping.write_text(mapping_toml(amo.url), encoding="utf-8")
        cards = {f"c{i}": card(i) for i in range(25)}
        queue(db, cards, ["amocrm"])
        rng = random.Random(4)
        logs = child_logs  # also scanned at the end of the run
        kills = 0
        for _ in range(8):
            seen = len(amo.arrivals)
            proc = start_worker(db, mapping, "amocrm", 0.05)
            if not amo.wait_requests(seen + rng.randint(1, 18), timeout=20) or proc.poll() is not None:
                break
            kill(proc, logs)
            kills += 1
        report = finish(start_worker(db, mapping, "amocrm", 0.05), logs)
        assert kills >= 5
        with Outbox(db) as ob:
            assert ob.status().sent == len(cards)
        assert report["amocrm"]["sent"] <= len(cards)
        amo_counts(amo, list(cards))
        assert len(amo.leads) == len(cards) and len(amo.contacts) == len(cards)
        with CardStore(db) as store:
            assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert not leaks(logs)
    finally:
        amo.close()
