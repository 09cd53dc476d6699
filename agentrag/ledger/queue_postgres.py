"""The derivation queue in the Postgres state store, shared by workers on every machine (see ``queue_base``).

Each operation is one transaction; those that read then write (claims above all)
first take one transaction-scoped advisory lock for the queue, so two workers
never lease the same job and a namespace's order is judged on committed state.
Claims are short (one indexed query and one update), so the lock is cheap.

Needs ``psycopg`` (``pip install 'agentrag[postgres]'``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agentrag.ledger.postgres import connect
from agentrag.ledger.queue_base import Clock, SqlQueue, job_table_ddl

_QUEUE_LOCK = 0x61676E7472616703  # advisory key: "agentrag's job queue"
_SCHEMA_LOCK = 0x61676E7472616701  # the ledger's "creating agentrag's tables" key

_SCHEMA = job_table_ddl("agentrag_jobs", serial="BIGSERIAL PRIMARY KEY", real="DOUBLE PRECISION")


class PostgresQueue(SqlQueue):
    """``JobQueue`` on Postgres; one connection per process, shared by threads under a lock."""

    table = "agentrag_jobs"
    mark = "%s"

    def __init__(self, dsn: str, *, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self._conn = connect(dsn)
        self._lock = threading.RLock()
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            self._conn.execute(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock, self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_QUEUE_LOCK,))
            yield self._conn

    @contextmanager
    def _reader(self) -> Iterator[Any]:
        with self._lock:
            yield self._conn

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
