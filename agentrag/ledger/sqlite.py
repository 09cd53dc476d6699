"""The ledger in one SQLite file (the embedded default: zero set-up, one machine).

Appends run in ``BEGIN IMMEDIATE`` transactions, which take SQLite's write lock
before reading: the compare-and-set check and the write are one atomic step for
every process on the file, and sequence numbers are assigned in commit order.
Triggers make history append-only at the database level, not by convention.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from agentrag.ledger.base import COLUMNS, DERIVED_FROM, ERASED, Change, ChangeRef, Edge, plan_rows
from agentrag.ledger.base import entry_from_row as _entry
from agentrag.memory.store import HistoryEntry
from agentrag.runctx import current_run_id
from agentrag.types import Level, utcnow

_CHUNK = 400  # stay well under SQLite's bound-parameter limit
_COLUMNS = COLUMNS

_SCHEMA = """
DROP TRIGGER IF EXISTS history_no_update;
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
CREATE TRIGGER IF NOT EXISTS history_erase_only BEFORE UPDATE ON history
WHEN NEW.seq IS NOT OLD.seq OR NEW.namespace IS NOT OLD.namespace OR NEW.item_id IS NOT OLD.item_id
  OR NEW.level IS NOT OLD.level OR NEW.event IS NOT OLD.event OR NEW.at IS NOT OLD.at
  OR NEW.actor IS NOT OLD.actor OR NEW.related_id IS NOT OLD.related_id OR NEW.run_id IS NOT OLD.run_id
  OR NEW.before IS NOT OLD.before AND NEW.before IS NOT NULL
  OR NEW.after IS NOT OLD.after AND NEW.after IS NOT NULL
  OR NEW.reason IS NOT OLD.reason AND NEW.reason IS NOT '__ERASED__'
BEGIN SELECT RAISE(ABORT, 'history is append-only (forget may only erase text)'); END;
CREATE TRIGGER IF NOT EXISTS history_no_delete BEFORE DELETE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TABLE IF NOT EXISTS provenance (
    namespace TEXT NOT NULL,
    src       TEXT NOT NULL,
    dst       TEXT NOT NULL,
    kind      TEXT NOT NULL,
    at        TEXT NOT NULL,
    PRIMARY KEY (namespace, src, dst, kind)
);
CREATE INDEX IF NOT EXISTS provenance_dst ON provenance(namespace, dst);
""".replace("__ERASED__", ERASED)


@contextmanager
def immediate(conn: sqlite3.Connection, lock: threading.RLock) -> Iterator[sqlite3.Connection]:
    """A ``BEGIN IMMEDIATE`` transaction on ``conn`` under ``lock`` (shared by the ledger and the queue)."""
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


class SqliteLedger:
    """``Ledger`` on a SQLite file in WAL mode; safe for threads and for processes on one machine."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=60.0, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.RLock()
        with self._lock:
            self._conn.executescript(_SCHEMA)  # (executescript commits on its own)
        with self._write() as conn:
            cols = {r[1] for r in conn.execute("PRAGMA table_info(history)")}
            if "run_id" not in cols:  # files written before runs were recorded
                conn.execute("ALTER TABLE history ADD COLUMN run_id TEXT")

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        """An ``IMMEDIATE`` transaction: SQLite's write lock is taken before the first read."""
        return immediate(self._conn, self._lock)

    def append(
        self,
        namespace: str,
        changes: Sequence[Change],
        *,
        actor: str,
        edges: Sequence[Edge] = (),
        reparent: Sequence[str] = (),
        remove_nodes: Sequence[str] = (),
        open_ids: Sequence[str] = (),
    ) -> list[int]:
        """See ``Ledger.append``."""
        at = utcnow().isoformat()
        with self._write() as conn:
            latest = self._latest(conn, namespace, [c.item_id for c in changes] + list(open_ids))
            rows = plan_rows(
                namespace, changes, latest, actor=actor, at=at, run_id=current_run_id.get(), open_ids=open_ids
            )
            seqs = []
            for row in rows:
                cur = conn.execute(
                    "INSERT INTO history (item_id, level, event, at, actor, reason, before, after, related_id,"
                    " run_id, namespace) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*row, namespace),
                )
                seqs.append(int(cur.lastrowid or 0))
            for src in reparent:
                conn.execute(
                    "DELETE FROM provenance WHERE namespace = ? AND src = ? AND kind = ?",
                    (namespace, src, DERIVED_FROM),
                )
            for i in range(0, len(remove_nodes), _CHUNK):
                chunk = list(remove_nodes[i : i + _CHUNK])
                marks = ",".join("?" * len(chunk))
                conn.execute(
                    f"DELETE FROM provenance WHERE namespace = ? AND (src IN ({marks}) OR dst IN ({marks}))",
                    (namespace, *chunk, *chunk),
                )
            conn.executemany(
                "INSERT OR IGNORE INTO provenance (namespace, src, dst, kind, at) VALUES (?, ?, ?, ?, ?)",
                [(namespace, e.src, e.dst, e.kind, at) for e in edges],
            )
        return seqs

    @staticmethod
    def _latest(conn: sqlite3.Connection, namespace: str, ids: Sequence[str]) -> dict[str, HistoryEntry]:
        out: dict[str, HistoryEntry] = {}
        unique = list(dict.fromkeys(ids))
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT {', '.join('h.' + c.strip() for c in _COLUMNS.split(','))} FROM history h JOIN ("
                f" SELECT MAX(seq) AS seq FROM history WHERE namespace = ? AND item_id IN ({marks})"
                " GROUP BY item_id) m ON h.seq = m.seq",
                (namespace, *chunk),
            )
            for row in rows:
                entry = _entry(row)
                out[entry.item_id] = entry
        return out

    def _read(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def last_seq(self, namespace: str, level: Level | None = None, *, below: int | None = None) -> int:
        """See ``Ledger.last_seq``."""
        sql = "SELECT MAX(seq) FROM history WHERE namespace = ?"
        args: list[object] = [namespace]
        if level is not None:
            sql, args = sql + " AND level = ?", [*args, level]
        if below is not None:
            sql, args = sql + " AND seq < ?", [*args, below]
        row = self._read(sql, tuple(args))[0]
        return int(str(row[0] or 0))

    def changes_since(self, namespace: str, level: Level, after: int) -> list[ChangeRef]:
        """See ``Ledger.changes_since``."""
        rows = self._read(
            "SELECT h.seq, h.item_id, h.event, h.after FROM history h JOIN ("
            " SELECT MAX(seq) AS seq FROM history WHERE namespace = ? AND level = ? AND seq > ? GROUP BY item_id"
            ") m ON h.seq = m.seq ORDER BY h.seq",
            (namespace, level, after),
        )
        return [ChangeRef(int(str(s)), str(i), e, a) for s, i, e, a in rows]  # type: ignore[arg-type]

    def entries(self, namespace: str, item_id: str) -> list[HistoryEntry]:
        """See ``Ledger.entries``."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM history WHERE namespace = ? AND item_id = ? ORDER BY seq", (namespace, item_id)
        )
        return [_entry(r) for r in rows]

    def latest(self, namespace: str, item_id: str) -> HistoryEntry | None:
        """See ``Ledger.latest``."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM history WHERE namespace = ? AND item_id = ? ORDER BY seq DESC LIMIT 1",
            (namespace, item_id),
        )
        return _entry(rows[0]) if rows else None

    def edges(self, namespace: str) -> list[Edge]:
        """See ``Ledger.edges``."""
        rows = self._read("SELECT src, dst, kind FROM provenance WHERE namespace = ? ORDER BY rowid", (namespace,))
        return [Edge(str(s), str(d), str(k)) for s, d, k in rows]

    def count(self, namespace: str) -> int:
        """See ``Ledger.count``."""
        return int(str(self._read("SELECT COUNT(*) FROM history WHERE namespace = ?", (namespace,))[0][0]))

    def scrub(self, namespace: str, ids: Sequence[str]) -> int:
        """See ``Ledger.scrub``; then checkpoint the WAL and vacuum, so no old page keeps the text."""
        from agentrag.memory.purge import compact_sqlite

        changed = 0
        unique = list(dict.fromkeys(ids))
        with self._write() as conn:
            for i in range(0, len(unique), _CHUNK):
                chunk = unique[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                changed += conn.execute(
                    f"UPDATE history SET before = NULL, after = NULL, reason = ? WHERE namespace = ?"
                    f" AND item_id IN ({marks}) AND event != 'forget'",
                    (ERASED, namespace, *chunk),
                ).rowcount
                changed += conn.execute(
                    f"UPDATE history SET reason = ?, after = CASE WHEN event = 'supersede' THEN NULL ELSE after END"
                    f" WHERE namespace = ? AND related_id IN ({marks}) AND item_id NOT IN ({marks})",
                    (ERASED, namespace, *chunk, *chunk),
                ).rowcount
        with self._lock:
            compact_sqlite(self.path, self._conn)
        return changed

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
