"""The history log: an append-only SQLite table of every change to every item.

It lives beside the Chroma data (``<data_dir>/memory/<backend>/memory.sqlite3``)
and is the record of truth for "what did memory say, and who changed it".
Triggers make the table append-only at the database level, not by convention.

Writes are ordered history-first: the store appends the change, then applies it
to Chroma. A crash in between leaves a record of a change that did not land;
re-running the same call applies it and does not append a duplicate (an entry
identical to the item's latest one is skipped). So nothing reaches Chroma
without a history record, and re-running a crashed call is safe.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from agentrag.memory.store import HistoryEntry, HistoryEvent
from agentrag.types import Level, utcnow

log = logging.getLogger(__name__)

_SQL_CHUNK = 900  # stay well under SQLite's bound-parameter limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS history (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace  TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    level      TEXT NOT NULL,
    event      TEXT NOT NULL,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    before     TEXT,
    after      TEXT,
    related_id TEXT
);
CREATE INDEX IF NOT EXISTS history_item ON history(namespace, item_id, seq);
CREATE INDEX IF NOT EXISTS history_level ON history(namespace, level, seq);
CREATE INDEX IF NOT EXISTS history_ns ON history(namespace, seq);
CREATE TRIGGER IF NOT EXISTS history_no_update BEFORE UPDATE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS history_no_delete BEFORE DELETE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
"""


@dataclass
class Database:
    """One SQLite connection shared by the history log and the provenance edges, with its lock."""

    conn: sqlite3.Connection
    lock: threading.RLock = field(default_factory=threading.RLock)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements atomically under the lock."""
        with self.lock, self.conn:
            yield self.conn

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self.conn.close()


def connect(path: Path) -> Database:
    """Open (creating if needed) the store's SQLite file in WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return Database(conn=conn)


@dataclass(frozen=True)
class Change:
    """A change about to be applied to one item."""

    item_id: str
    level: Level
    event: HistoryEvent
    reason: str
    before: str | None = None
    after: str | None = None
    related_id: str | None = None


class HistoryLog:
    """Append and read the per-item change log of one store."""

    def __init__(self, db: Database) -> None:
        self.db = db
        with db.transaction() as conn:
            conn.executescript(_SCHEMA)

    def append(self, namespace: str, changes: Sequence[Change], *, actor: str, at: datetime | None = None) -> int:
        """Append changes in order and return how many were written.

        A change identical (event, after, related id) to the item's latest entry is
        the replay of a call that crashed after logging, and is not written twice.
        """
        if not changes:
            return 0
        when = (at or utcnow()).isoformat()
        with self.db.transaction() as conn:
            latest = self._latest(conn, namespace, [c.item_id for c in changes])
            rows = []
            for c in changes:
                prev = latest.get(c.item_id)
                if prev is not None and prev == (c.event, c.after, c.related_id):
                    continue
                latest[c.item_id] = (c.event, c.after, c.related_id)
                rows.append(
                    (namespace, c.item_id, c.level, c.event, when, actor, c.reason, c.before, c.after, c.related_id)
                )
            conn.executemany(
                "INSERT INTO history (namespace, item_id, level, event, at, actor, reason, before, after, related_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    @staticmethod
    def _latest(
        conn: sqlite3.Connection, namespace: str, ids: Sequence[str]
    ) -> dict[str, tuple[str, str | None, str | None]]:
        out: dict[str, tuple[str, str | None, str | None]] = {}
        unique = list(dict.fromkeys(ids))
        for i in range(0, len(unique), _SQL_CHUNK):
            chunk = unique[i : i + _SQL_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                "SELECT h.item_id, h.event, h.after, h.related_id FROM history h JOIN ("
                f" SELECT item_id, MAX(seq) AS seq FROM history WHERE namespace = ? AND item_id IN ({marks})"
                " GROUP BY item_id) m ON h.seq = m.seq",
                (namespace, *chunk),
            )
            for item_id, event, after, related in rows:
                out[item_id] = (event, after, related)
        return out

    def entries(self, namespace: str, item_id: str) -> list[HistoryEntry]:
        """Every entry for one item of one namespace, oldest first."""
        with self.db.lock:
            rows = self.db.conn.execute(
                "SELECT seq, item_id, namespace, event, at, actor, reason, before, after, related_id"
                " FROM history WHERE namespace = ? AND item_id = ? ORDER BY seq",
                (namespace, item_id),
            ).fetchall()
        return [
            HistoryEntry(
                seq=seq,
                item_id=iid,
                namespace=ns,
                event=event,
                at=datetime.fromisoformat(at),
                actor=actor,
                reason=reason,
                before=before,
                after=after,
                related_id=related,
            )
            for seq, iid, ns, event, at, actor, reason, before, after, related in rows
        ]

    def last_seq(self, namespace: str, level: Level | None = None) -> int:
        """Sequence number of the latest entry (0 if none): a cheap change counter for caches."""
        with self.db.lock:
            if level is None:
                row = self.db.conn.execute("SELECT MAX(seq) FROM history WHERE namespace = ?", (namespace,)).fetchone()
            else:
                row = self.db.conn.execute(
                    "SELECT MAX(seq) FROM history WHERE namespace = ? AND level = ?", (namespace, level)
                ).fetchone()
        return int(row[0] or 0)

    def changed_ids(self, namespace: str, level: Level, after: int) -> list[str]:
        """Ids of a level with an entry after sequence number ``after`` (to replay changes into caches)."""
        with self.db.lock:
            rows = self.db.conn.execute(
                "SELECT DISTINCT item_id FROM history WHERE namespace = ? AND level = ? AND seq > ?",
                (namespace, level, after),
            ).fetchall()
        return [r[0] for r in rows]

    def count(self, namespace: str) -> int:
        """How many entries a namespace has."""
        with self.db.lock:
            row = self.db.conn.execute("SELECT COUNT(*) FROM history WHERE namespace = ?", (namespace,)).fetchone()
        return int(row[0])
