"""The page entry points the CLI and the server call: list runs, export a run page, a memory page.

They open the checkpoint database read-only and take the memory store from the caller,
so a page never changes what it shows; the namespace is checked against the thread's,
so one tenant cannot read another's runs by guessing a thread id.
"""

from __future__ import annotations

from pathlib import Path

from agentrag.errors import InputError
from agentrag.memory.namespaces import validate_namespace
from agentrag.memory.store import MemoryStore
from agentrag.pages.checkpoints import ThreadSummary, compiled, list_threads, read_only, thread_graph
from agentrag.pages.render import run_html
from agentrag.pages.run_view import RunView, build_run_view
from agentrag.settings import Settings
from agentrag.tracing.observe import runlog_path
from agentrag.tracing.runlog import RunLog, RunRecord


def checkpoint_path(settings: Settings) -> Path:
    """The checkpoint database ``AgentRAG`` writes (see ``AgentRAG.checkpoint_path``)."""
    return settings.data_dir / "checkpoints.sqlite"


def _records(settings: Settings, thread_id: str) -> list[RunRecord]:
    path = runlog_path(settings)
    if not path.is_file():
        return []
    log = RunLog(path)
    try:
        return list(reversed(log.for_thread(thread_id)))
    finally:
        log.close()


def list_runs(settings: Settings, namespace: str, limit: int = 200) -> list[tuple[ThreadSummary, list[RunRecord]]]:
    """Threads run in ``namespace``, newest first, each with its run records (oldest first)."""
    validate_namespace(namespace)
    path = checkpoint_path(settings)
    if not path.is_file():
        return []
    with read_only(path) as conn:
        threads = list_threads(conn, namespace, limit)
    return [(t, _records(settings, t.thread_id)) for t in threads]


def run_view(settings: Settings, thread_id: str, namespace: str, memory: MemoryStore | None) -> RunView:
    """Gather one thread's run (refusing a thread of another namespace)."""
    validate_namespace(namespace)
    with read_only(checkpoint_path(settings)) as conn:
        graph_name, owner = thread_graph(conn, thread_id)
        if owner is not None and owner != namespace:
            raise InputError(f"no checkpointed run with thread id {thread_id!r} in namespace {namespace!r}")
        return build_run_view(compiled(graph_name, conn), graph_name, thread_id, _records(settings, thread_id),
                              memory, namespace)


def run_page(settings: Settings, thread_id: str, namespace: str, memory: MemoryStore | None,
             memory_href: str = "") -> str:
    """The self-contained run page of one thread."""
    return run_html(run_view(settings, thread_id, namespace, memory), memory_href)
