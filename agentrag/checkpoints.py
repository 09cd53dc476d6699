"""SQLite checkpointing for the graphs, with agentrag's state types on the serializer's allowlist.

LangGraph deserialises checkpointed objects by importing their classes; an
explicit allowlist keeps that to agentrag's own value types (and LangGraph's
safe built-ins), which both silences "unregistered type" warnings and stops a
tampered checkpoint file from constructing arbitrary objects.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from agentrag.types import Citation, Conflict, Evidence, Hit, MemoryItem, Note, Route, TokenUsage, Verdict

STATE_TYPES: tuple[type, ...] = (MemoryItem, Hit, Evidence, Note, Route, Verdict, Conflict, Citation, TokenUsage)


def serializer() -> JsonPlusSerializer:
    """The checkpoint serializer, restricted to agentrag's state types."""
    return JsonPlusSerializer(allowed_msgpack_modules=list(STATE_TYPES))


def sqlite_saver(conn: sqlite3.Connection) -> SqliteSaver:
    """A synchronous SQLite checkpointer on an open connection."""
    return SqliteSaver(conn, serde=serializer())


@asynccontextmanager
async def async_sqlite_saver(path: Path) -> AsyncIterator[AsyncSqliteSaver]:
    """An async SQLite checkpointer on ``path`` for the duration of the block."""
    import aiosqlite

    async with aiosqlite.connect(str(path)) as conn:
        yield AsyncSqliteSaver(conn, serde=serializer())
