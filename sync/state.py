"""The desktop's record of playbook versions: a small SQLite database (WAL, ``synchronous=FULL``).

One row per applied version with its status and index folder; one state row with the active
version, the previous one and the high-water mark (the highest version ever applied). Switching
the active version is one ``BEGIN IMMEDIATE`` transaction, so after a crash the database names
either the old version or the new one, never something in between.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

from knowledge.settings import Settings
from knowledge.sqlite_wal import use_wal
from sync.errors import StateError

SCHEMA = """
CREATE TABLE IF NOT EXISTS playbook_versions (
    version INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'previous', 'retired')),
    folder TEXT,
    bundle TEXT,
    model_id TEXT NOT NULL,
    dim INTEGER NOT NULL,
    cards INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    key_id TEXT NOT NULL,
    applied_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS playbook_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    active INTEGER REFERENCES playbook_versions(version),
    previous INTEGER REFERENCES playbook_versions(version),
    high_water INTEGER NOT NULL DEFAULT 0,
    channel TEXT NOT NULL DEFAULT ''
);
INSERT OR IGNORE INTO playbook_state (id) VALUES (1);
"""


@dataclass(frozen=True)
class VersionRow:
    version: int
    channel: str
    status: str
    folder: str | None
    bundle: str | None
    model_id: str
    dim: int
    cards: int
    chunks: int
    created: str
    expires: str
    key_id: str
    applied_at: float


COLUMNS = ", ".join(f.name for f in fields(VersionRow))


@dataclass(frozen=True)
class State:
    active: VersionRow | None
    previous: VersionRow | None
    high_water: int
    channel: str


def index_root(settings: Settings) -> Path:
    """Index folders of applied bundles: ``index/bundles/v<N>-<random>`` (never reused)."""
    return settings.index_dir() / "bundles"


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    use_wal(conn)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(SCHEMA)
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class StateDB:
    def __init__(self, settings: Settings) -> None:
        self.path = settings.state_path()
        try:
            self.conn = connect(self.path)
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: база версий плейбука не открывается ({exc})") from exc

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def row(self, version: int | None) -> VersionRow | None:
        if version is None:
            return None
        found = self.conn.execute(f"SELECT {COLUMNS} FROM playbook_versions WHERE version = ?",
                                  (version,)).fetchone()
        return VersionRow(*found) if found else None

    def read(self) -> State:
        active, previous, high, channel = self.conn.execute(
            "SELECT active, previous, high_water, channel FROM playbook_state WHERE id = 1").fetchone()
        return State(self.row(active), self.row(previous), int(high), str(channel))

    def activate(self, new: VersionRow) -> State:
        """Make a newly applied version active; the old active one becomes the previous one."""
        with transaction(self.conn) as c:
            state = self.read()
            if new.version <= state.high_water:
                raise StateError(f"версия {new.version} не новее уже применённой {state.high_water}")
            c.execute(f"INSERT INTO playbook_versions ({COLUMNS}) VALUES ({', '.join('?' * 13)})",
                      (new.version, new.channel, "active", new.folder, new.bundle, new.model_id, new.dim,
                       new.cards, new.chunks, new.created, new.expires, new.key_id, time.time()))
            old = state.active or state.previous
            self._statuses(c, active=new.version, previous=old.version if old else None)
            c.execute("UPDATE playbook_state SET high_water = ?, channel = ? WHERE id = 1",
                      (new.version, new.channel))
        return self.read()

    def rollback(self) -> State:
        """Swap the active and the previous version."""
        with transaction(self.conn) as c:
            state = self.read()
            if state.previous is None or not state.previous.folder:
                raise StateError("нет предыдущей версии плейбука для отката")
            self._statuses(c, active=state.previous.version,
                           previous=state.active.version if state.active else None)
        return self.read()

    def deactivate(self) -> None:
        """A locally built playbook takes over; the bundle stays available for ``kb rollback``."""
        with transaction(self.conn) as c:
            state = self.read()
            if state.active is not None:
                self._statuses(c, active=None, previous=state.active.version)

    def replace_folder(self, version: int, folder: str, model_id: str, dim: int) -> None:
        """After a rebuild from the cached bundle: the version now lives in a new folder."""
        with transaction(self.conn) as c:
            c.execute("UPDATE playbook_versions SET folder = ?, model_id = ?, dim = ? WHERE version = ?",
                      (folder, model_id, dim, version))

    def forget_files(self, version: int) -> None:
        self.conn.execute("UPDATE playbook_versions SET folder = NULL, bundle = NULL WHERE version = ?",
                          (version,))

    def referenced(self) -> tuple[set[str], set[str]]:
        """Index folders and cached bundle files still needed (active and previous)."""
        rows = self.conn.execute("SELECT folder, bundle FROM playbook_versions "
                                 "WHERE status IN ('active', 'previous')").fetchall()
        return {r[0] for r in rows if r[0]}, {r[1] for r in rows if r[1]}

    def _statuses(self, c: sqlite3.Connection, active: int | None, previous: int | None) -> None:
        c.execute("UPDATE playbook_versions SET status = 'retired' WHERE status != 'retired'")
        if active is not None:
            c.execute("UPDATE playbook_versions SET status = 'active' WHERE version = ?", (active,))
        if previous is not None:
            c.execute("UPDATE playbook_versions SET status = 'previous' WHERE version = ?", (previous,))
        c.execute("UPDATE playbook_state SET active = ?, previous = ? WHERE id = 1", (active, previous))


@dataclass(frozen=True)
class ActiveBundle:
    version: int
    folder: Path
    cards: Path
    row: VersionRow


def active_bundle(settings: Settings) -> ActiveBundle | None:
    """The applied bundle the searches should use, or None (no database, or no bundle active)."""
    if not settings.state_path().exists():
        return None
    with StateDB(settings) as db:
        row = db.read().active
    if row is None or not row.folder:
        return None
    folder = index_root(settings) / row.folder
    return ActiveBundle(row.version, folder, folder / "cards", row)
