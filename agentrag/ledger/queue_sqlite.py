"""The derivation queue in the SQLite state store (the embedded default; see ``queue_base``).

It lives in the ledger's file, so one backup holds memory's history and the work
still owed to it. Every operation is a ``BEGIN IMMEDIATE`` transaction: SQLite's
write lock is taken before the read, so a claim's "which job is next" and "it is
mine now" are one step for every thread and process on the file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from agentrag.ledger.queue_base import Clock, SqlQueue, job_table_ddl
from agentrag.ledger.sqlite import immediate

_SCHEMA = job_table_ddl("jobs", serial="INTEGER PRIMARY KEY AUTOINCREMENT", real="REAL")


class SqliteQueue(SqlQueue):
    """``JobQueue`` in a SQLite file in WAL mode; safe for threads and for processes on one machine."""

    def __init__(self, path: Path, *, clock: Clock | None = None) -> None:
        super().__init__(clock)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=60.0, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")  # as the ledger: WAL stays consistent, commits skip fsync
        self._lock = threading.RLock()
        with self._lock:
            self._conn.executescript(_SCHEMA)

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate(self._conn, self._lock)

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
