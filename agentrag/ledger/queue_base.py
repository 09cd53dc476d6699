"""The derivation queue in the ``state`` store: durable jobs with leases, per-namespace order and retries.

A chat turn's raw items are written before the reply returns; deriving facts and
episodes from them (and the Judge's consistency check, the Refresher on conflict)
is a job in this queue, run by background workers (``agentrag.derivation``). The
queue lives in the same database as the ledger, so it survives a restart and is
shared by every worker process.

The promises, which ``agentrag.testing.queue_contract`` checks on every backend:

* **Durable and idempotent to enqueue.** A job's id is a hash of its namespace,
  kind and item ids: enqueueing the same turn twice (a retried request) returns
  the existing job.
* **Per-namespace order.** A job is handed out only when every earlier job of its
  namespace (by enqueue order) is done or failed, so one end user's turns are
  derived in the order they were said; other namespaces run in parallel.
* **Leases.** ``claim`` hands a job to one worker until ``lease_until``; the worker
  renews it while it runs. A killed worker's job is claimed again once its lease
  expires; ``complete``/``fail`` from a worker that lost its lease change nothing.
* **Bounded retries.** ``fail`` puts the job back with a delay until
  ``max_attempts`` tries were used, then marks it ``failed`` (visible in
  ``stats``; ``retry`` puts failed jobs back).

Time is the workers' wall clock (``clock``, injectable for tests); keep hosts in
NTP sync when workers run on several machines.
"""

from __future__ import annotations

import hashlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from agentrag.errors import InputError

JobStatus = Literal["pending", "running", "done", "failed"]
JobKind = Literal["derive"]
STATUSES: tuple[JobStatus, ...] = ("pending", "running", "done", "failed")
Clock = Callable[[], float]


def job_id(namespace: str, kind: str, item_ids: Sequence[str]) -> str:
    """The deterministic id of a job: the same turn enqueued twice is one job."""
    key = "\x00".join([namespace, kind, *sorted(item_ids)])
    return "job-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


class Job(BaseModel):
    """One job as stored (a snapshot: re-read it for the current status)."""

    model_config = ConfigDict(frozen=True)

    id: str
    seq: int
    namespace: str
    kind: JobKind
    item_ids: tuple[str, ...]
    status: JobStatus
    attempts: int
    max_attempts: int
    last_error: str | None = None
    enqueued_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None


class QueueStats(BaseModel):
    """What ``GET /v1/queue`` and ``agentrag queue status`` show."""

    model_config = ConfigDict(frozen=True)

    counts: dict[str, int]
    """Jobs per status (every status present, 0 when none)."""
    oldest_pending_age_s: float | None
    """Seconds since the oldest pending job was enqueued; None when nothing is pending."""
    expired_leases: int
    """Running jobs whose worker stopped renewing (they are claimed again by the next free worker)."""


@runtime_checkable
class JobQueue(Protocol):
    """The derivation queue of one state store (SQLite or Postgres); see the module docstring."""

    def enqueue(
        self, namespace: str, item_ids: Sequence[str], *, kind: JobKind = "derive", max_attempts: int = 5
    ) -> Job:
        """Add a job, or return the job with the same id if one exists (whatever its status)."""
        ...

    def claim(self, owner: str, lease_s: float) -> Job | None:
        """Lease the oldest runnable job to ``owner``; None when nothing may run now."""
        ...

    def renew(self, job_id: str, owner: str, lease_s: float) -> bool:
        """Extend ``owner``'s lease; False if the job is no longer leased to it."""
        ...

    def complete(self, job_id: str, owner: str) -> bool:
        """Mark ``owner``'s job done; False (nothing changed) if it no longer holds the lease."""
        ...

    def fail(self, job_id: str, owner: str, error: str, retry_in_s: float) -> Job | None:
        """Record a failed try: pending again after ``retry_in_s``, or ``failed`` when tries are used up."""
        ...

    def get(self, job_id: str) -> Job | None:
        """One job, or None."""
        ...

    def jobs(self, *, namespace: str | None = None, status: JobStatus | None = None, limit: int = 100) -> list[Job]:
        """Jobs in enqueue order, optionally of one namespace or status."""
        ...

    def stats(self, namespace_prefix: str = "") -> QueueStats:
        """Counts per status, the oldest pending job's age, expired leases (of namespaces with this prefix)."""
        ...

    def retry(self, job_ids: Sequence[str] = ()) -> int:
        """Put failed jobs (these, or all) back to pending with fresh attempts; return how many."""
        ...

    def prune(self, older_than_s: float) -> int:
        """Delete done jobs that finished more than ``older_than_s`` ago; returns how many.

        Failed, pending and running jobs are never pruned. A pruned job's items can be
        enqueued again; deriving them again finds their finished run and does nothing.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


_COLUMNS = (
    "id, seq, namespace, kind, item_ids, status, attempts, max_attempts, last_error,"
    " enqueued_at, started_at, finished_at, lease_owner, lease_until"
)
_RUNNABLE = (
    "(j.status = 'pending' AND j.available_at <= ? OR j.status = 'running' AND j.lease_until < ?)"
    " AND NOT EXISTS (SELECT 1 FROM {t} e WHERE e.namespace = j.namespace AND e.seq < j.seq"
    " AND e.status IN ('pending', 'running'))"
)


def job_table_ddl(table: str, *, serial: str, real: str) -> str:
    """The jobs table and its indexes; backends differ only in the key and float column types."""
    return f"""
CREATE TABLE IF NOT EXISTS {table} (
    seq          {serial},
    id           TEXT NOT NULL UNIQUE,
    namespace    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    item_ids     TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    last_error   TEXT,
    enqueued_at  {real} NOT NULL,
    available_at {real} NOT NULL,
    started_at   {real},
    finished_at  {real},
    lease_owner  TEXT,
    lease_until  {real}
);
CREATE INDEX IF NOT EXISTS {table}_open ON {table}(status, seq);
CREATE INDEX IF NOT EXISTS {table}_ns ON {table}(namespace, status, seq);
"""


def _job(row: Sequence[Any]) -> Job:
    names = [c.strip() for c in _COLUMNS.split(",")]
    v = dict(zip(names, row, strict=True))
    for key in ("enqueued_at", "started_at", "finished_at", "lease_until"):
        v[key] = _when(v[key])
    v["item_ids"] = tuple(json.loads(str(v["item_ids"])))
    return Job.model_validate(v)


class SqlQueue(ABC):
    """The queue's logic in portable SQL; a backend supplies the connection, transactions and schema.

    Statements are written with ``?`` placeholders; ``mark`` is the backend's
    (``%s`` for psycopg). ``_tx`` must give one serialised transaction: claims
    read then write, and two workers must never take the same job.
    """

    table = "jobs"
    mark = "?"

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or time.time

    @abstractmethod
    def _tx(self) -> AbstractContextManager[Any]:
        """One serialised write transaction (a connection; committed on exit, rolled back on error)."""

    def _reader(self) -> AbstractContextManager[Any]:
        """A connection for one plain read, taking no write lock (idle workers poll through it)."""
        return self._tx()

    def _sql(self, sql: str) -> str:
        return sql.replace("{t}", self.table).replace("?", self.mark)

    def _run(self, conn: Any, sql: str, args: Sequence[Any] = ()) -> Any:
        return conn.execute(self._sql(sql), tuple(args))

    def _one(self, conn: Any, job_id: str) -> Job | None:
        row = self._run(conn, f"SELECT {_COLUMNS} FROM {{t}} WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def enqueue(
        self, namespace: str, item_ids: Sequence[str], *, kind: JobKind = "derive", max_attempts: int = 5
    ) -> Job:
        """See ``JobQueue.enqueue``."""
        jid, now = job_id(namespace, kind, item_ids), self.clock()
        with self._tx() as conn:
            found = self._one(conn, jid)
            if found is not None:
                return found
            self._run(
                conn,
                "INSERT INTO {t} (id, namespace, kind, item_ids, status, attempts, max_attempts,"
                " enqueued_at, available_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
                (jid, namespace, kind, json.dumps(list(item_ids)), max_attempts, now, now),
            )
            job = self._one(conn, jid)
        assert job is not None
        return job

    def claim(self, owner: str, lease_s: float) -> Job | None:
        """See ``JobQueue.claim``; a job whose last lease expired with no tries left is marked failed."""
        now = self.clock()
        with self._reader() as conn:
            if self._run(conn, "SELECT 1 FROM {t} WHERE status IN ('pending', 'running') LIMIT 1").fetchone() is None:
                return None  # nothing open: no write lock taken
        with self._tx() as conn:
            while True:
                row = self._run(
                    conn,
                    f"SELECT {', '.join('j.' + c.strip() for c in _COLUMNS.split(','))} FROM {{t}} j"
                    f" WHERE {_RUNNABLE} ORDER BY j.seq LIMIT 1",
                    (now, now),
                ).fetchone()
                if row is None:
                    return None
                job = _job(row)
                if job.attempts < job.max_attempts:
                    break
                self._run(
                    conn,
                    "UPDATE {t} SET status = 'failed', finished_at = ?, lease_owner = NULL, lease_until = NULL,"
                    " last_error = ? WHERE id = ?",
                    (now, f"worker lost (lease expired) on try {job.attempts} of {job.max_attempts}", job.id),
                )
            self._run(
                conn,
                "UPDATE {t} SET status = 'running', attempts = attempts + 1, lease_owner = ?, lease_until = ?,"
                " started_at = ? WHERE id = ?",
                (owner, now + lease_s, now, job.id),
            )
            return self._one(conn, job.id)

    def renew(self, job_id: str, owner: str, lease_s: float) -> bool:
        """See ``JobQueue.renew``."""
        with self._tx() as conn:
            cur = self._run(
                conn,
                "UPDATE {t} SET lease_until = ? WHERE id = ? AND lease_owner = ? AND status = 'running'",
                (self.clock() + lease_s, job_id, owner),
            )
            return bool(cur.rowcount)

    def complete(self, job_id: str, owner: str) -> bool:
        """See ``JobQueue.complete``."""
        with self._tx() as conn:
            cur = self._run(
                conn,
                "UPDATE {t} SET status = 'done', finished_at = ?, lease_owner = NULL, lease_until = NULL,"
                " last_error = NULL WHERE id = ? AND lease_owner = ? AND status = 'running'",
                (self.clock(), job_id, owner),
            )
            return bool(cur.rowcount)

    def fail(self, job_id: str, owner: str, error: str, retry_in_s: float) -> Job | None:
        """See ``JobQueue.fail``."""
        now = self.clock()
        with self._tx() as conn:
            self._run(
                conn,
                "UPDATE {t} SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,"
                " finished_at = CASE WHEN attempts >= max_attempts THEN ? ELSE NULL END,"
                " available_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL"
                " WHERE id = ? AND lease_owner = ? AND status = 'running'",
                (now, now + retry_in_s, error[:2000], job_id, owner),
            )
            return self._one(conn, job_id)

    def get(self, job_id: str) -> Job | None:
        """See ``JobQueue.get``."""
        with self._tx() as conn:
            return self._one(conn, job_id)

    def jobs(self, *, namespace: str | None = None, status: JobStatus | None = None, limit: int = 100) -> list[Job]:
        """See ``JobQueue.jobs``."""
        where: list[str] = ["1 = 1"]
        args: list[object] = []
        if namespace is not None:
            where, args = [*where, "namespace = ?"], [*args, namespace]
        if status is not None:
            where, args = [*where, "status = ?"], [*args, status]
        with self._tx() as conn:
            rows = self._run(
                conn, f"SELECT {_COLUMNS} FROM {{t}} WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?", [*args, limit]
            ).fetchall()
        return [_job(r) for r in rows]

    def stats(self, namespace_prefix: str = "") -> QueueStats:
        """See ``JobQueue.stats``; a tenant sees only its own namespaces (``tenant:``)."""
        now = self.clock()
        like = namespace_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        mine = "namespace LIKE ? ESCAPE '\\'"
        with self._tx() as conn:
            counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
            for status, n in self._run(
                conn, f"SELECT status, COUNT(*) FROM {{t}} WHERE {mine} GROUP BY status", (like,)
            ).fetchall():
                counts[str(status)] = int(n)
            oldest = self._run(
                conn, f"SELECT MIN(enqueued_at) FROM {{t}} WHERE status = 'pending' AND {mine}", (like,)
            ).fetchone()[0]
            expired = self._run(
                conn, f"SELECT COUNT(*) FROM {{t}} WHERE status = 'running' AND lease_until < ? AND {mine}",
                (now, like),
            ).fetchone()[0]
        age = None if oldest is None else max(0.0, now - float(oldest))
        return QueueStats(counts=counts, oldest_pending_age_s=age, expired_leases=int(expired))

    def retry(self, job_ids: Sequence[str] = ()) -> int:
        """See ``JobQueue.retry``."""
        now, ids = self.clock(), list(job_ids)
        sql = (
            "UPDATE {t} SET status = 'pending', attempts = 0, available_at = ?, finished_at = NULL"
            " WHERE status = 'failed'"
        )
        with self._tx() as conn:
            if not ids:
                return int(self._run(conn, sql, (now,)).rowcount)
            return sum(int(self._run(conn, sql + " AND id = ?", (now, i)).rowcount) for i in ids)

    def prune(self, older_than_s: float) -> int:
        """See ``JobQueue.prune``."""
        if older_than_s < 0:
            raise InputError(f"older_than_s must be >= 0, got {older_than_s}")
        cutoff = self.clock() - older_than_s
        with self._tx() as conn:
            return int(self._run(conn, "DELETE FROM {t} WHERE status = 'done' AND finished_at < ?", (cutoff,)).rowcount)
