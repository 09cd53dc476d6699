"""The run log: one row per graph run with its node visits and LLM calls, for run pages.

Checkpoints already hold every state a run passed through; what they lack is what
happened between them: how long each node took, which prompts it sent and how many
tokens they cost. The :class:`~agentrag.tracing.recorder.RunRecorder` callback gathers
that and appends it here (SQLite in the data directory, one short write per run).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from agentrag.types import TokenUsage

log = logging.getLogger(__name__)


class NodeVisit(BaseModel):
    """One execution of one graph node."""

    model_config = ConfigDict(frozen=True)

    node: str
    step: int
    start_ms: float
    """Milliseconds since the run started."""
    duration_ms: float
    error: str | None = None
    within: str = ""
    """For work inside a subgraph: the top-level node running that subgraph (chat's ``answer``)."""


class LLMCall(NodeVisit):
    """One generator call, attributed to the node (and step) that made it."""

    prompt_id: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class RunRecord(BaseModel):
    """Everything a run page needs that the checkpoints do not hold."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    thread_id: str
    graph: str
    namespace: str | None = None
    tenant: str | None = None
    started_at: datetime
    duration_ms: float
    status: str = "ok"
    error: str | None = None
    nodes: tuple[NodeVisit, ...] = ()
    calls: tuple[LLMCall, ...] = ()

    def usage_by_node(self) -> dict[str, TokenUsage]:
        """Tokens and calls summed per node."""
        out: dict[str, TokenUsage] = {}
        for c in self.calls:
            out[c.node] = out.get(c.node, TokenUsage()) + TokenUsage(
                prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens, calls=1
            )
        return out


_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, graph TEXT NOT NULL, namespace TEXT,
    started_at TEXT NOT NULL, record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_ns ON runs (namespace, started_at);
CREATE INDEX IF NOT EXISTS runs_thread ON runs (thread_id, started_at);
"""


def _while_locked(step: Callable[[], None], timeout_s: float) -> None:
    """Run ``step``, again while SQLite says the file is locked, until ``timeout_s``.

    Two ``agentrag serve`` workers share one run log. A worker opening it while the other
    wrote got "database is locked" from the WAL pragma at once, not after the busy timeout
    (seen in CI as a 500 on the second worker's first chat turn), so the retry is explicit.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() >= deadline:
                raise
            log.info("run log is locked by another process; trying again (%s)", exc)
            time.sleep(0.05)


class RunLog:
    """Append and read run records (SQLite; WAL so readers never block a running graph)."""

    def __init__(self, path: Path, *, timeout_s: float = 60.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=timeout_s)
        self._lock = threading.Lock()
        with self._lock:
            _while_locked(self._setup, timeout_s)

    def _setup(self) -> None:
        """WAL (set once per file, so skipped when another process already did), then the schema."""
        if str(self._conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def append(self, record: RunRecord) -> None:
        """Store one run (a re-recorded run id replaces its row)."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                (record.run_id, record.thread_id, record.graph, record.namespace,
                 record.started_at.isoformat(), record.model_dump_json()),
            )

    def _select(self, where: str, args: tuple[object, ...], limit: int) -> list[RunRecord]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT record FROM runs WHERE {where} ORDER BY started_at DESC LIMIT ?", (*args, limit)
            ).fetchall()
        return [RunRecord.model_validate_json(r[0]) for r in rows]

    def for_namespace(self, namespace: str, limit: int = 200) -> list[RunRecord]:
        """Runs in one namespace, newest first."""
        return self._select("namespace = ?", (namespace,), limit)

    def for_thread(self, thread_id: str, limit: int = 50) -> list[RunRecord]:
        """Runs of one thread (a resumed thread has several), newest first."""
        return self._select("thread_id = ?", (thread_id,), limit)

    def erase(self, namespace: str, thread_ids: set[str], needles: list[str]) -> int:
        """Delete a namespace's run records of ``thread_ids`` or quoting a needle (forget), then compact."""
        from agentrag.memory.purge import compact_sqlite

        with self._lock:
            rows = self._conn.execute("SELECT run_id, thread_id, record FROM runs WHERE namespace = ?", (namespace,))
            doomed = [r for r, t, rec in rows.fetchall() if t in thread_ids or any(n in rec for n in needles)]
            self._conn.executemany("DELETE FROM runs WHERE run_id = ?", [(r,) for r in doomed])
            compact_sqlite(Path(), self._conn)
        return len(doomed)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()
