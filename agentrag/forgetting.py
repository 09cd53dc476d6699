"""Forget across every store that may hold the text: memory, checkpoints, run records.

``ChromaStore.forget_items`` erases the items (and what was derived from them)
from Chroma, the ledger, BM25 and the caches. What remains is everything a graph
run recorded about them: its checkpoints (the state holds the hits, evidence,
notes and the answer that quoted them) and its run record. Those are **deleted,
not redacted**: a checkpoint thread of the namespace whose state mentions a
forgotten item's id or text is deleted whole (checkpoints and pending writes),
because a redacted state could not be resumed faithfully anyway, and an answer
may paraphrase what it quoted so no text substitution is complete. With
``everything`` (``forget --all``) every thread and run record of the namespace
goes. SQLite files are then vacuumed and their WAL truncated.
"""

from __future__ import annotations

import logging
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from pydantic import BaseModel

from agentrag.checkpoints import checkpoint_path
from agentrag.memory.purge import compact_sqlite
from agentrag.settings import Settings, SqliteState
from agentrag.types import MemoryItem

log = logging.getLogger(__name__)


class ForgetReport(BaseModel):
    """What one forget erased."""

    items: int
    ids: list[str]
    threads: int
    runs: int


def forget(
    settings: Settings,
    store: Any,
    checkpointer: BaseCheckpointSaver[Any],
    namespace: str,
    ids: list[str] | None,
    *,
    reason: str,
    actor: str,
) -> ForgetReport:
    """Forget ``ids`` (``None``: the whole namespace) and every run that quoted them."""
    inner = getattr(store, "inner", store)  # the tracing wrapper delegates; the Chroma store does the work
    # Runs first, memory last: a kill in between leaves the items, so the re-run still knows their
    # text and finds the runs that quoted it (the other order would leave those runs for good).
    if ids is None:
        needles: list[str] = []
    else:
        doomed = inner.get(namespace, inner.doomed_ids(namespace, ids))
        needles = list(dict.fromkeys([*ids, *(it.id for it in doomed), *(it.text for it in doomed)]))
    threads = erase_threads(settings, checkpointer, namespace, needles, everything=ids is None)
    runs = erase_run_records(settings, namespace, threads, needles, everything=ids is None)
    if ids is None:
        gone: list[MemoryItem] = inner.forget_all(namespace, reason=reason, actor=actor)
    else:
        gone = inner.forget_items(namespace, ids, reason=reason, actor=actor)
    return ForgetReport(items=len(gone), ids=[it.id for it in gone], threads=len(threads), runs=runs)


def erase_threads(
    settings: Settings, saver: BaseCheckpointSaver[Any], namespace: str, needles: list[str], *, everything: bool
) -> set[str]:
    """Delete the namespace's checkpoint threads that mention a needle (all of them with ``everything``)."""
    doomed: set[str] = set()
    if needles or everything:
        for tup in saver.list(None, filter={"agentrag_namespace": namespace}):
            tid = str(tup.config["configurable"]["thread_id"])
            if tid in doomed:
                continue
            blob = repr(tup.checkpoint) + repr(tup.pending_writes) + repr(tup.metadata)
            if everything or any(n in blob for n in needles):
                doomed.add(tid)
    for tid in sorted(doomed):
        saver.delete_thread(tid)
    if isinstance(settings.state, SqliteState):
        compact_sqlite(checkpoint_path(settings))
    log.info("forget: deleted %d checkpoint thread(s) of %r", len(doomed), namespace)
    return doomed


def erase_run_records(
    settings: Settings, namespace: str, threads: set[str], needles: list[str], *, everything: bool
) -> int:
    """Delete run records of erased threads, or quoting a needle (every one of the namespace with ``everything``)."""
    from agentrag.tracing.observe import runlog_path
    from agentrag.tracing.runlog import RunLog

    path = runlog_path(settings)
    if not path.is_file():
        return 0
    log_ = RunLog(path)
    try:
        if everything:
            return log_.erase(namespace, set(), [""])  # "" is in every record
        return log_.erase(namespace, threads, needles)
    finally:
        log_.close()
