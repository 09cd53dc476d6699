"""One checkpointer per process for both the sync and the async graph paths.

LangGraph's async savers hold a connection bound to the event loop that opened it,
so the async path used to open a new saver (and a new database connection) and
compile the graph again for every request. Here the one synchronous saver a
process opens also answers LangGraph's async calls, by running its (lock-guarded)
sync methods in a worker thread: any event loop can use it, the graph is compiled
once, and a request opens nothing. A checkpoint write is a small local or loopback
query, so the thread hop costs far less than the connection it saves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple


class ThreadedAsync:
    """Mixin for a sync ``BaseCheckpointSaver``: its ``a*`` methods run the sync ones in a thread."""

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """``get_tuple`` off the event loop."""
        return await asyncio.to_thread(self.get_tuple, config)  # type: ignore[attr-defined]

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """``list`` off the event loop (read whole in the thread: the sync cursor holds the saver's lock)."""

        def read() -> list[CheckpointTuple]:
            return list(self.list(config, filter=filter, before=before, limit=limit))  # type: ignore[attr-defined]

        for item in await asyncio.to_thread(read):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """``put`` off the event loop."""
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)  # type: ignore[attr-defined]

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        """``put_writes`` off the event loop."""
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)  # type: ignore[attr-defined]

    async def adelete_thread(self, thread_id: str) -> None:
        """``delete_thread`` off the event loop."""
        await asyncio.to_thread(self.delete_thread, thread_id)  # type: ignore[attr-defined]
