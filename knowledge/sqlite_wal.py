"""Write-ahead logging for the app's SQLite files (calls.db, the distribution state)."""

from __future__ import annotations

import sqlite3
import time


def use_wal(conn: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch ``conn``'s file to WAL once. The switch needs the file to itself and SQLite answers
    "locked" at once (no busy wait) while another connection is mid-transaction; a file already in WAL
    needs no switch, so read the mode first and retry the switch briefly."""
    for attempt in range(attempts):
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)
