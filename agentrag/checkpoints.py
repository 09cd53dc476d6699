"""Checkpointing for the graphs on the state store (SQLite by default, Postgres when shared).

LangGraph deserialises checkpointed objects by importing their classes; an
explicit allowlist keeps that to agentrag's own value types (and LangGraph's
safe built-ins), which both silences "unregistered type" warnings and stops a
tampered checkpoint file from constructing arbitrary objects.

``settings.state`` picks the store: ``sqlite`` keeps ``data_dir/checkpoints.sqlite``
(one machine); ``postgres`` keeps them in the same database as the ledger, so a
run checkpointed by one worker resumes on any other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from agentrag.checkpoint_bridge import ThreadedAsync
from agentrag.errors import MissingDependencyError
from agentrag.settings import PostgresState, Settings, SqliteState
from agentrag.types import Citation, Conflict, Evidence, Hit, MemoryItem, Note, Route, TokenUsage, Verdict

STATE_TYPES: tuple[type, ...] = (MemoryItem, Hit, Evidence, Note, Route, Verdict, Conflict, Citation, TokenUsage)
_SETUP_LOCK = 0x61676E7472616702  # advisory key: one worker at a time runs the checkpointer's migrations
_POOL_WAIT_S = 5.0  # how long a checkpoint write waits for a connection while Postgres is down


def serializer() -> JsonPlusSerializer:
    """The checkpoint serializer, restricted to agentrag's state types."""
    return JsonPlusSerializer(allowed_msgpack_modules=list(STATE_TYPES))


class BridgedSqliteSaver(ThreadedAsync, SqliteSaver):
    """SQLite checkpointer whose async methods run the sync ones in a thread (see ``checkpoint_bridge``)."""


def sqlite_saver(conn: sqlite3.Connection) -> SqliteSaver:
    """A SQLite checkpointer on an open connection; usable from sync and async graph runs."""
    return BridgedSqliteSaver(conn, serde=serializer())


@asynccontextmanager
async def async_sqlite_saver(path: Path) -> AsyncIterator[AsyncSqliteSaver]:
    """An async SQLite checkpointer on ``path`` for the duration of the block."""
    import aiosqlite

    async with aiosqlite.connect(str(path)) as conn:
        yield AsyncSqliteSaver(conn, serde=serializer())


def checkpoint_path(settings: Settings) -> Path:
    """The SQLite checkpoint file of the default state store."""
    return settings.data_dir / "checkpoints.sqlite"


def open_checkpointer(settings: Settings) -> tuple[BaseCheckpointSaver[Any], Callable[[], None]]:
    """The process's checkpointer on ``settings.state`` and the function that closes it.

    It serves sync and async graph runs alike (``agentrag.checkpoint_bridge``), so one
    connection and one compiled graph serve every request of a worker.
    """
    match settings.state:
        case SqliteState():
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(checkpoint_path(settings)), check_same_thread=False)
            return sqlite_saver(conn), conn.close
        case PostgresState(dsn=dsn):
            return _postgres_saver(dsn)


@asynccontextmanager
async def async_checkpointer(settings: Settings) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """An async checkpointer on ``settings.state`` for the duration of the block."""
    match settings.state:
        case SqliteState():
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            async with async_sqlite_saver(checkpoint_path(settings)) as lite:
                yield lite
        case PostgresState(dsn=dsn):
            psycopg, rows, _ = _postgres()
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

            async with await psycopg.AsyncConnection.connect(
                dsn, autocommit=True, prepare_threshold=0, row_factory=rows.dict_row
            ) as conn:
                saver = AsyncPostgresSaver(conn, serde=serializer())
                await conn.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
                try:
                    await saver.setup()
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
                yield saver


def _postgres_saver(dsn: str) -> tuple[BaseCheckpointSaver[Any], Callable[[], None]]:
    """A Postgres checkpointer on a small pool that replaces connections a server restart broke.

    One bare connection stayed dead after Postgres restarted, so every later run of the
    process failed; the pool checks a connection before lending it and waits at most
    ``_POOL_WAIT_S`` for a new one (``PoolTimeout`` is a ``psycopg.OperationalError``,
    reported as ``StoreUnavailableError`` by ``agentrag.faults``).
    """
    _, rows, saver_cls = _postgres()
    from psycopg_pool import ConnectionPool

    kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": rows.dict_row}
    pool: Any = ConnectionPool(
        dsn, min_size=1, max_size=4, kwargs=kwargs, check=ConnectionPool.check_connection, timeout=_POOL_WAIT_S,
        open=True,
    )
    try:
        # ThreadedAsync: the same sync saver answers LangGraph's async calls (one per process).
        saver = type("BridgedPostgresSaver", (ThreadedAsync, saver_cls), {})(pool, serde=serializer())
        with pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
            try:
                saver.setup()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
    except BaseException:
        pool.close()
        raise
    return saver, pool.close


def _postgres() -> tuple[Any, Any, Any]:
    try:
        import psycopg
        import psycopg_pool  # noqa: F401  (the sync checkpointer runs on a pool)
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import rows
    except ImportError as exc:
        raise MissingDependencyError(
            "langgraph-checkpoint-postgres", "postgres", "checkpoints on the Postgres state store"
        ) from exc
    return psycopg, rows, PostgresSaver
