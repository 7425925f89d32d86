"""The outbox: confirmed cards on their way to the CRMs, delivered step by step, surviving restarts.

    outbox = Outbox(calls_db_path())
    report = outbox.deliver([amo_adapter, bitrix_adapter], wait=True, timeout=60)
    outbox.status()            # OutboxStatus: sent / pending / retrying / dead (+ reasons) / paused
    outbox.retry_dead(row_id)  # a dead letter back to pending (after the mapping or the card is fixed)
    outbox.resume("amocrm")    # un-pause a target (after ``sufler crm setup`` stored a new token)

Steps of one row: contact (find by phone, create if none) → deal (custom fields, tags, mapped pipeline
and stage) → note (summary and checklist) → task (next contact date; skipped without one). Each step's
remote id is committed before the next step starts; before a create the step is marked as attempted
(committed too), and an attempted step is looked up in the CRM before it is created again, so a lost
response or a ``kill -9`` never produces a second entity.

Errors: ``TransientError`` (429/503/5xx/timeouts) → the row waits ``BackoffPolicy.delay`` (exponential,
full jitter, capped, at least Retry-After) and other rows go on; ``RejectedError`` (400/404/422, a card
the mapping cannot place) → dead letter after that one attempt, other rows go on; ``AuthError`` (401)
→ one token refresh per run, then the target pauses without spending the rows' attempts. One process
delivers to a target at a time (a lock file next to the database). Targets run in parallel threads.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.crm.backoff import BackoffPolicy
from sync.crm.base import Adapter, Card
from sync.crm.db import connect, transaction
from sync.crm.errors import AuthError, CrmError, RejectedError, TransientError
from sync.errors import BusyError
from sync.lock import exclusive

log = logging.getLogger("sufler.crm.outbox")
STEPS = ("contact", "deal", "note", "task")


@dataclass(frozen=True)
class DeadLetter:
    id: int
    call_id: str
    target: str
    reason: str
    attempts: int


@dataclass
class OutboxStatus:
    sent: int = 0
    pending: int = 0
    retrying: int = 0
    dead: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    paused: dict[str, str] = field(default_factory=dict)  # target → reason
    by_target: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def needs_attention(self) -> int:
        return self.dead + len(self.paused)


@dataclass
class TargetReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    paused: str | None = None


class _Paused(Exception):
    pass


class Outbox:
    def __init__(self, path: Path, *, backoff: BackoffPolicy | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = path
        self.backoff = backoff or BackoffPolicy()
        self.clock = clock
        self.sleep = sleep
        self.conn = connect(path)

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    # ---- what the user sees -------------------------------------------------------------------
    def status(self) -> OutboxStatus:
        st = OutboxStatus()
        for row in self.conn.execute("SELECT target, status, COUNT(*) n FROM outbox GROUP BY target, status"):
            setattr(st, row["status"], getattr(st, row["status"]) + row["n"])
            st.by_target.setdefault(row["target"], {})[row["status"]] = row["n"]
        st.dead_letters = [
            DeadLetter(r["id"], r["call_id"], r["target"], r["last_error"] or "", r["attempts"])
            for r in self.conn.execute("SELECT * FROM outbox WHERE status = 'dead' ORDER BY id")]
        st.paused = {r["target"]: r["paused_reason"] or "" for r in
                     self.conn.execute("SELECT * FROM outbox_targets WHERE paused_at IS NOT NULL")}
        return st

    def remote_ids(self, outbox_id: int) -> dict[str, str | None]:
        return {r["step"]: r["remote_id"] for r in
                self.conn.execute("SELECT step, remote_id FROM crm_remote_ids WHERE outbox_id = ?", (outbox_id,))}

    def retry_dead(self, outbox_id: int | None = None) -> int:
        """Dead letters (one, or all) back to the queue; returns how many."""
        sql = "UPDATE outbox SET status = 'pending', next_attempt_at = ?, attempts = 0 WHERE status = 'dead'"
        args: tuple[Any, ...] = (self.clock(),)
        if outbox_id is not None:
            sql += " AND id = ?"
            args += (outbox_id,)
        with transaction(self.conn):
            return self.conn.execute(sql, args).rowcount

    def resume(self, target: str | None = None) -> None:
        with transaction(self.conn):
            if target is None:
                self.conn.execute("DELETE FROM outbox_targets")
            else:
                self.conn.execute("DELETE FROM outbox_targets WHERE target = ?", (target,))

    # ---- delivery ------------------------------------------------------------------------------
    def deliver(self, adapters: Iterable[Adapter], *, wait: bool = False, timeout: float | None = None,
                stop: threading.Event | None = None) -> dict[str, TargetReport]:
        """Deliver every due row of each adapter's target (in parallel across targets). With ``wait``, keep
        going until nothing is pending or retrying, the target pauses, ``timeout`` passes or ``stop`` is set."""
        deadline = None if timeout is None else time.monotonic() + timeout
        adapters = list(adapters)
        reports = {a.target: TargetReport() for a in adapters}
        errors: list[BaseException] = []

        def run(adapter: Adapter) -> None:
            try:
                self._deliver_target(adapter, reports[adapter.target], wait, deadline, stop)
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)

        if len(adapters) == 1:
            run(adapters[0])
        else:
            threads = [threading.Thread(target=run, args=(a,), name=f"outbox-{a.target}") for a in adapters]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        if errors:
            raise errors[0]
        return reports

    def _deliver_target(self, adapter: Adapter, report: TargetReport, wait: bool, deadline: float | None,
                        stop: threading.Event | None) -> None:
        target = adapter.target
        try:
            with exclusive(self.path.parent / f"outbox-{target}.lock"):
                conn = connect(self.path)
                try:
                    self._loop(conn, adapter, report, wait, deadline, stop)
                finally:
                    conn.close()
        except BusyError:
            raise CrmError(f"очередь {target} уже отправляет другой процесс Суфлёра") from None

    def _loop(self, conn: sqlite3.Connection, adapter: Adapter, report: TargetReport, wait: bool,
              deadline: float | None, stop: threading.Event | None) -> None:
        target = adapter.target
        refreshed = False
        while not (stop is not None and stop.is_set()):
            if deadline is not None and time.monotonic() >= deadline:
                return
            paused = conn.execute("SELECT paused_reason FROM outbox_targets WHERE target = ? AND paused_at IS NOT"
                                  " NULL", (target,)).fetchone()
            if paused is not None:
                report.paused = paused[0]
                return
            now = self.clock()
            row = conn.execute("SELECT * FROM outbox WHERE target = ? AND status IN ('pending', 'retrying')"
                               " ORDER BY next_attempt_at, id LIMIT 1", (target,)).fetchone()
            if row is None:
                return
            if row["next_attempt_at"] > now:
                if not wait:
                    return
                pause = row["next_attempt_at"] - now
                if deadline is not None:
                    pause = min(pause, max(0.0, deadline - time.monotonic()))
                self.sleep(min(pause, 1.0))
                continue
            try:
                self._deliver_row(conn, adapter, row)
            except AuthError as exc:
                if not refreshed:
                    refreshed = True
                    try:
                        ok = adapter.refresh_auth()
                    except CrmError as refresh_exc:
                        log.warning("%s: token refresh failed: %s", target, refresh_exc)
                        ok = False
                    if ok:
                        log.info("%s: token refreshed, row %d again", target, row["id"])
                        continue
                self._pause(conn, target, f"нет доступа к CRM ({exc}); выполните: sufler crm setup")
                report.paused = str(exc)
                return
            except RejectedError as exc:
                self._fail(conn, row, str(exc), dead=True)
                report.dead += 1
            except TransientError as exc:
                self._fail(conn, row, str(exc), dead=False, retry_after=exc.retry_after)
                report.retried += 1
            except CrmError as exc:
                self._fail(conn, row, str(exc), dead=False)
                report.retried += 1
            except (KeyError, TypeError, ValueError, IndexError) as exc:  # an unexpected CRM answer
                self._fail(conn, row, f"{target}: непонятный ответ CRM ({type(exc).__name__})", dead=False)
                report.retried += 1
            else:
                report.sent += 1

    def _pause(self, conn: sqlite3.Connection, target: str, reason: str) -> None:
        log.warning("%s: queue paused (auth)", target)
        with transaction(conn):
            conn.execute("INSERT INTO outbox_targets (target, paused_reason, paused_at) VALUES (?, ?, ?)"
                         " ON CONFLICT(target) DO UPDATE SET paused_reason = excluded.paused_reason,"
                         " paused_at = excluded.paused_at", (target, reason, self.clock()))

    def _fail(self, conn: sqlite3.Connection, row: sqlite3.Row, reason: str, *, dead: bool,
              retry_after: float | None = None) -> None:
        attempts = row["attempts"] + 1
        if dead:
            log.warning("%s row=%d call=%s: dead letter: %s", row["target"], row["id"], row["call_id"], reason)
            status, at = "dead", self.clock()
        else:
            delay = self.backoff.delay(attempts, retry_after)
            log.info("%s row=%d call=%s: attempt %d failed, retry in %.3fs", row["target"], row["id"],
                     row["call_id"], attempts, delay)
            status, at = "retrying", self.clock() + delay
        with transaction(conn):
            conn.execute("UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
                         (status, attempts, at, reason[:500], row["id"]))

    def _deliver_row(self, conn: sqlite3.Connection, adapter: Adapter, row: sqlite3.Row) -> None:
        oid, call_id = int(row["id"]), str(row["call_id"])
        card: Card = json.loads(row["payload"])
        steps = {r["step"]: r for r in conn.execute("SELECT * FROM crm_remote_ids WHERE outbox_id = ?", (oid,))}
        before = set(steps)            # attempted in an earlier run: look the entity up before creating it
        marked = set(steps)            # rows present in crm_remote_ids
        results: dict[str, str | None] = {s: (r["remote_id"] or None) for s, r in steps.items()
                                          if r["done_at"] is not None}

        def mark(step: str) -> None:
            if step not in marked:
                with transaction(conn):
                    conn.execute("INSERT OR IGNORE INTO crm_remote_ids (outbox_id, step, attempted_at)"
                                 " VALUES (?, ?, ?)", (oid, step, self.clock()))
                marked.add(step)

        def store(step: str, remote_id: str | None, then: str | None) -> None:
            """Commit this step's result and, in the same transaction, mark the next step as attempted
            (its create follows at once): one fsync per step instead of two."""
            now = self.clock()
            with transaction(conn):
                conn.execute("INSERT INTO crm_remote_ids (outbox_id, step, remote_id, attempted_at, done_at)"
                             " VALUES (?, ?, ?, ?, ?) ON CONFLICT(outbox_id, step) DO UPDATE SET"
                             " remote_id = excluded.remote_id, done_at = excluded.done_at",
                             (oid, step, remote_id or "", now, now))
                if then is None:
                    conn.execute("UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL WHERE id = ?",
                                 (now, oid))
                elif then not in marked:
                    conn.execute("INSERT OR IGNORE INTO crm_remote_ids (outbox_id, step, attempted_at)"
                                 " VALUES (?, ?, ?)", (oid, then, now))
            marked.add(step)
            if then is not None:
                marked.add(then)
            results[step] = remote_id or None
            log.info("%s row=%d call=%s: %s -> %s", adapter.target, oid, call_id, step, remote_id or "skipped")

        if "contact" not in results:
            contact_id = None
            if any(card.get(k) for k in ("phone", "email", "contact_name")):
                contact_id = adapter.find_contact(card, thorough="contact" in before)
                if contact_id is None:
                    mark("contact")
                    contact_id = adapter.create_contact(card)
            store("contact", contact_id, "deal")
        if "deal" not in results:
            deal_id = adapter.find_deal(call_id) if "deal" in before else None
            if deal_id is None:
                mark("deal")
                deal_id = adapter.create_deal(call_id, card, results.get("contact"))
            store("deal", deal_id, "note")
        deal_id = results["deal"]
        if deal_id is None:
            raise CrmError(f"{adapter.target} row={oid}: нет id сделки")
        if "note" not in results:
            note_id = adapter.find_note(deal_id, call_id) if "note" in before else None
            if note_id is None:
                mark("note")
                note_id = adapter.create_note(deal_id, call_id, card)
            store("note", note_id, "task")
        if "task" not in results:
            task_id = None
            if card.get("next_contact_date"):
                task_id = adapter.find_task(deal_id, call_id) if "task" in before else None
                if task_id is None:
                    mark("task")
                    task_id = adapter.create_task(deal_id, call_id, card)
            store("task", task_id, None)
        else:
            with transaction(conn):
                conn.execute("UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL WHERE id = ?",
                             (self.clock(), oid))
        log.info("%s row=%d call=%s: sent", adapter.target, oid, call_id)
