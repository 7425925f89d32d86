"""The CRM tables in the calls database (SQLite WAL, ``synchronous=FULL``, one ``BEGIN IMMEDIATE`` per change).

``crm_cards`` holds the current version of each call's card, ``crm_card_edits`` every change (the draft,
each edit, the confirmation), ``outbox`` one row per (call, CRM target) with the confirmed snapshot,
``crm_remote_ids`` the result of each delivery step (``remote_id`` NULL while a create is in flight),
``outbox_targets`` a paused flag per CRM (after a 401 the refresh did not cure).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from knowledge.sqlite_wal import use_wal
from sync.state import transaction

__all__ = ["connect", "transaction"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS crm_cards (
    call_id TEXT PRIMARY KEY,
    card TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'confirmed')),
    version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    confirmed_at REAL,
    confirmed_by TEXT
);
CREATE TABLE IF NOT EXISTS crm_card_edits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL REFERENCES crm_cards(call_id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('draft', 'edit', 'confirm')),
    field TEXT,
    old TEXT,
    new TEXT,
    who TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS crm_card_edits_call ON crm_card_edits(call_id, id);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL REFERENCES crm_cards(call_id),
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'retrying', 'sent', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    sent_at REAL,
    UNIQUE (call_id, target)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(target, status, next_attempt_at, id);
CREATE TABLE IF NOT EXISTS crm_remote_ids (
    outbox_id INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    step TEXT NOT NULL,
    remote_id TEXT,
    attempted_at REAL NOT NULL,
    done_at REAL,
    PRIMARY KEY (outbox_id, step)
);
CREATE TABLE IF NOT EXISTS outbox_targets (
    target TEXT PRIMARY KEY,
    paused_reason TEXT,
    paused_at REAL
);
"""



def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the CRM tables created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    use_wal(conn)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    with transaction(conn):
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
    return conn
