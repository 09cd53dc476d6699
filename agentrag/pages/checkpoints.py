"""Reading a thread's checkpoints back, read-only, with the graph that wrote them.

The pages never open the checkpoint database for writing: a run page is a view of
history, and serving it must not be able to change a thread that may be resumed.
"""

from __future__ import annotations

import importlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agentrag.checkpoints import sqlite_saver
from agentrag.errors import InputError, NotFoundError

GRAPHS = ("answer", "ingest", "chat")


@dataclass(frozen=True)
class ThreadSummary:
    """One thread as ``trace list`` shows it."""

    thread_id: str
    graph: str
    namespace: str
    checkpoints: int
    first_checkpoint: str
    last_checkpoint: str
    run_ids: tuple[str, ...]
    checkpoint_thread: str = ""
    """LangGraph's thread of this run (``<namespace>/<thread>#<run>``, see ``agentrag.runner``)."""
    newest: bool = True
    """Whether this is the newest run of its thread (its page is reachable by the plain thread id)."""


@contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the checkpoint database (an error naming the file if it is missing)."""
    if not path.is_file():
        raise InputError(f"no checkpoint database at {str(path)!r}; has anything run with this data directory?")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    try:
        yield conn
    finally:
        conn.close()


def compiled(name: str, conn: sqlite3.Connection) -> Any:
    """The named graph compiled over ``conn``'s checkpoints."""
    if name not in GRAPHS:
        raise InputError(f"unknown graph {name!r}; valid: {', '.join(GRAPHS)}")
    module = importlib.import_module(f"agentrag.graphs.{name}")
    return module.build(sqlite_saver(conn))


_META = "json_extract(CAST(metadata AS TEXT), '$.{}')"


def list_threads(conn: sqlite3.Connection, namespace: str, limit: int = 200) -> list[ThreadSummary]:
    """Threads whose runs were in ``namespace`` (from the metadata agentrag puts on each checkpoint), newest first."""
    try:
        rows = conn.execute(
            f"SELECT thread_id, MAX({_META.format('graph')}), COUNT(*), MIN(checkpoint_id), MAX(checkpoint_id), "
            f"GROUP_CONCAT(DISTINCT {_META.format('agentrag_run_id')}), MAX({_META.format('agentrag_thread')}) "
            "FROM checkpoints "
            f"WHERE checkpoint_ns = '' AND {_META.format('namespace')} = ? "
            "GROUP BY thread_id ORDER BY MAX(checkpoint_id) DESC LIMIT ?",
            (namespace, limit),
        ).fetchall()
    except sqlite3.OperationalError as exc:  # an empty database has no table yet
        if "no such table" in str(exc):
            return []
        raise
    out: list[ThreadSummary] = []
    seen: set[str] = set()
    for t, g, n, lo, hi, runs, key in rows:
        shown = user_thread(str(t), str(key) if key else None, namespace)
        out.append(
            ThreadSummary(shown, str(g or "answer"), namespace, int(n), str(lo), str(hi),
                          tuple(sorted(set(str(runs).split(",")))) if runs else (), str(t), shown not in seen)
        )
        seen.add(shown)
    return out


def user_thread(checkpoint_thread: str, key: str | None, namespace: str) -> str:
    """The thread id a caller passed (``<namespace>/<thread>`` metadata without the namespace)."""
    prefix = f"{namespace}/"
    if key and key.startswith(prefix):
        return key[len(prefix):]
    return checkpoint_thread


def resolve_thread(conn: sqlite3.Connection, namespace: str, thread_id: str) -> str:
    """The checkpoint thread for ``thread_id``: itself if it is one, else the newest run of that thread."""
    exact = conn.execute(
        "SELECT 1 FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' LIMIT 1", (thread_id,)
    ).fetchone()
    if exact is not None:
        return thread_id
    row = conn.execute(
        f"SELECT thread_id FROM checkpoints WHERE checkpoint_ns = '' AND {_META.format('agentrag_thread')} = ? "
        "ORDER BY checkpoint_id DESC LIMIT 1",
        (f"{namespace}/{thread_id}",),
    ).fetchone()
    return str(row[0]) if row is not None else thread_id


def thread_graph(conn: sqlite3.Connection, thread_id: str) -> tuple[str, str | None]:
    """Which graph ran a thread, and in which namespace (from checkpoint metadata, else from the state's shape)."""
    row = conn.execute(
        f"SELECT {_META.format('graph')}, {_META.format('namespace')} FROM checkpoints "
        "WHERE thread_id = ? AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1",
        (thread_id,),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no checkpointed run with thread id {thread_id!r}")
    graph, namespace = row
    return (str(graph) if graph in GRAPHS else "answer"), (str(namespace) if namespace else None)


def parse_ts(value: str) -> datetime:
    """A checkpoint timestamp (ISO 8601)."""
    return datetime.fromisoformat(value)


def pretty(value: Any, limit: int = 600) -> str:
    """Indented JSON of a state value, long strings cut, for the checkpoint views."""

    def cut(o: Any) -> Any:
        dump = getattr(o, "model_dump", None)
        if callable(dump):
            o = dump(mode="json")
        if isinstance(o, str):
            return o if len(o) <= limit else o[:limit] + f"… ({len(o)} chars)"
        if isinstance(o, dict):
            return {str(k): cut(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [cut(v) for v in o]
        return o if isinstance(o, int | float | bool) or o is None else str(o)

    return json.dumps(cut(value), indent=1, ensure_ascii=False)
