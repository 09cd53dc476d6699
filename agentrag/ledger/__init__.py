"""The shared state store's ledger: history, provenance and the change clock (see ``base.py``).

``open_ledger(settings)`` picks the backend from ``settings.state``: SQLite under
the data directory (the default) or Postgres shared by every worker.
"""

from __future__ import annotations

from pathlib import Path

from agentrag.ledger.base import (
    CLOSING_EVENTS,
    DERIVED_FROM,
    ERASED,
    SUPERSEDED_BY,
    Change,
    ChangeRef,
    Edge,
    Ledger,
    content_hash,
)
from agentrag.ledger.queue_base import Job, JobQueue, QueueStats
from agentrag.settings import PostgresState, Settings, SqliteState


def open_ledger(settings: Settings) -> Ledger:
    """The ledger ``settings.state`` describes."""
    match settings.state:
        case SqliteState():
            from agentrag.ledger.sqlite import SqliteLedger

            return SqliteLedger(sqlite_path(settings))
        case PostgresState(dsn=dsn):
            from agentrag.ledger.postgres import PostgresLedger

            return PostgresLedger(dsn)


def open_queue(settings: Settings) -> JobQueue:
    """The derivation queue in the state store ``settings.state`` describes (beside the ledger)."""
    match settings.state:
        case SqliteState():
            from agentrag.ledger.queue_sqlite import SqliteQueue

            return SqliteQueue(sqlite_path(settings))
        case PostgresState(dsn=dsn):
            from agentrag.ledger.queue_postgres import PostgresQueue

            return PostgresQueue(dsn)


def sqlite_path(settings: Settings) -> Path:
    """Where the SQLite ledger lives: beside the Chroma backend's data, as before there was a choice."""
    from agentrag.memory.chroma_client import backend_key

    assert isinstance(settings.state, SqliteState)
    if settings.state.path is not None:
        return settings.state.path
    return settings.data_dir / "memory" / backend_key(settings.chroma) / "memory.sqlite3"


__all__ = [
    "CLOSING_EVENTS",
    "DERIVED_FROM",
    "ERASED",
    "SUPERSEDED_BY",
    "Change",
    "ChangeRef",
    "Edge",
    "Job",
    "JobQueue",
    "Ledger",
    "QueueStats",
    "content_hash",
    "open_ledger",
    "open_queue",
]
