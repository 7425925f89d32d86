"""The calls database: every event of every call, written as it happens.

``calls.db`` in the data folder (``calls_db_path()``), SQLite in WAL mode. Tables (other modules add
their own tables to the same file, e.g. the CRM outbox; the names here are ``calls`` and
``call_events`` only):

- ``calls``: call_id, started_at, ended_at, source, status (``live`` while it runs, then ``ended``,
  ``error`` or ``interrupted``), the transcript's own id (``name``) and the pid of the process that ran it;
- ``call_events``: call_id, seq (1, 2, ... per call), at (call time), type, json (``Event.to_json()``).

Each event is its own short transaction, committed before the session goes on, so a crash of the
app loses nothing said before it. ``synchronous=NORMAL``: in WAL mode a commit is then in the WAL
file (the OS has it) without waiting for the disk; a killed or crashed process loses nothing and the
database is never corrupted; only a power cut or an OS crash may roll back the last commits. FULL
would add an fsync (1-20 ms, more on a busy disk) to every event on the hint path, several times a
second. Opening the store marks the calls whose process is gone while they were ``live`` as
``interrupted``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from assist.events import Event
from assist.transcript import Transcript, Utterance
from knowledge.settings import data_dir
from knowledge.sqlite_wal import use_wal

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    name TEXT,
    pid INTEGER
);
CREATE TABLE IF NOT EXISTS call_events (
    call_id TEXT NOT NULL REFERENCES calls(call_id),
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    type TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
CREATE INDEX IF NOT EXISTS call_events_type ON call_events(call_id, type);
"""


class CallStoreError(Exception):
    """The calls database cannot be opened or written; one line naming the file."""


def calls_db_path() -> Path:
    return data_dir() / "calls.db"


@dataclass(frozen=True)
class CallRow:
    call_id: str
    started_at: str
    ended_at: str | None
    source: str
    status: str
    name: str | None
    events: int

    def to_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "started_at": self.started_at, "ended_at": self.ended_at,
                "source": self.source, "status": self.status, "name": self.name, "events": self.events}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


class CallStore:
    """One connection, usable from several threads (the session worker and the GUI's feedback)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or calls_db_path()
        self._lock = threading.Lock()
        self._seq: dict[str, int] = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            use_wal(self._db)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            with self._tx():
                for statement in _statements(SCHEMA):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self.recover()
        except sqlite3.Error as exc:
            raise CallStoreError(f"{self.path}: база звонков не открывается: {exc}") from exc

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    def recover(self) -> list[str]:
        """Calls left ``live`` by a process that is gone become ``interrupted``; returns their ids."""
        with self._lock:
            rows = self._db.execute("SELECT call_id, pid, started_at FROM calls WHERE status = 'live'").fetchall()
            gone = [(call_id, started) for call_id, pid, started in rows if call_id not in self._seq
                    and (pid is None or pid == os.getpid() or not _alive(int(pid)))]
            with self._tx():
                for call_id, started in gone:  # ended: at the last event written
                    last = self._db.execute("SELECT max(at) FROM call_events WHERE call_id = ?",
                                            (call_id,)).fetchone()[0]
                    self._db.execute("UPDATE calls SET status = 'interrupted', ended_at = ? WHERE call_id = ?",
                                     (_after(started, last), call_id))
        return [call_id for call_id, _ in gone]

    # --- writing ----------------------------------------------------------------------------------------

    def begin_call(self, call_id: str, source: str, *, started_at: str | None = None, name: str | None = None) -> None:
        with self._lock, self._write(), self._tx():
            self._db.execute("INSERT INTO calls (call_id, started_at, source, status, name, pid) "
                             "VALUES (?, ?, ?, 'live', ?, ?)", (call_id, started_at or _now(), source, name,
                                                                os.getpid()))
            self._seq[call_id] = 0

    def add(self, call_id: str, event: Event) -> int:
        """Write one event in its own transaction; returns its seq."""
        data = json.dumps(event.to_json(), ensure_ascii=False, default=str)
        with self._lock, self._write(), self._tx():
            seq = self._seq.get(call_id)
            if seq is None:
                seq = int(self._db.execute("SELECT coalesce(max(seq), 0) FROM call_events WHERE call_id = ?",
                                           (call_id,)).fetchone()[0])
            seq += 1
            self._db.execute("INSERT INTO call_events (call_id, seq, at, type, json) VALUES (?, ?, ?, ?, ?)",
                             (call_id, seq, float(event.at), event.type, data))
            self._seq[call_id] = seq
        return seq

    def end_call(self, call_id: str, status: str = "ended") -> None:
        with self._lock, self._write(), self._tx():
            self._db.execute("UPDATE calls SET status = ?, ended_at = ? WHERE call_id = ?", (status, _now(), call_id))
            self._seq.pop(call_id, None)

    def _write(self) -> _Errors:
        return _Errors(self.path)

    # --- reading ----------------------------------------------------------------------------------------

    def calls(self, limit: int | None = None) -> list[CallRow]:
        """Calls, newest first, with their event counts."""
        sql = ("SELECT c.call_id, c.started_at, c.ended_at, c.source, c.status, c.name, "
               "(SELECT count(*) FROM call_events e WHERE e.call_id = c.call_id) "
               "FROM calls c ORDER BY c.rowid DESC")
        args: tuple[int, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            args = (limit,)
        with self._lock:
            return [CallRow(*row) for row in self._db.execute(sql, args)]

    def call(self, call_id: str) -> CallRow | None:
        return next((c for c in self.calls() if c.call_id == call_id), None)

    def events(self, call_id: str, types: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """The call's events in the order they happened (``seq`` added), optionally of some types only."""
        sql = "SELECT seq, json FROM call_events WHERE call_id = ?"
        args: list[Any] = [call_id]
        if types:
            sql += f" AND type IN ({', '.join('?' for _ in types)})"
            args += list(types)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        return [{"seq": seq, **json.loads(text)} for seq, text in rows]

    def transcript(self, call_id: str) -> Transcript:
        """The call's transcript rebuilt from its finals (``UtteranceFinal``), in utterance order."""
        row = self.call(call_id)
        if row is None:
            raise KeyError(f"звонка {call_id} нет в {self.path}")
        started = None
        header = self.events(call_id, ("CallStarted",))
        if header and header[0].get("started_at"):
            try:
                started = datetime.fromisoformat(header[0]["started_at"])
            except ValueError:
                started = None
        finals = self.events(call_id, ("UtteranceFinal",))
        utterances = sorted((Utterance(int(e["index"]), str(e["speaker"]), float(e["start"]), float(e["end"]),
                                       str(e["text"])) for e in finals), key=lambda u: (u.index, u.start))
        return Transcript(Path(row.source), row.name or call_id, started, "", utterances)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _after(started_at: str, seconds: float | None) -> str | None:
    try:
        start = datetime.fromisoformat(started_at)
    except ValueError:
        return None
    return (start + timedelta(seconds=seconds or 0.0)).isoformat(timespec="seconds")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


class _Errors:
    """sqlite3 errors while writing become one line naming the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: object) -> None:
        if exc is not None and isinstance(exc, sqlite3.Error):
            raise CallStoreError(f"{self.path}: запись в базу звонков не удалась: {exc}") from exc
