"""The page entry points the CLI and the server call: list runs, export a run page, a memory page.

They open the checkpoint database read-only and take the memory store from the caller,
so a page never changes what it shows; the namespace is checked against the thread's,
so one tenant cannot read another's runs by guessing a thread id.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from agentrag.errors import NotFoundError
from agentrag.memory.namespaces import validate_namespace
from agentrag.memory.store import MemoryStore
from agentrag.pages.checkpoints import ThreadSummary, compiled, list_threads, read_only, resolve_thread, thread_graph
from agentrag.pages.memory_view import build_memory_view
from agentrag.pages.render import memory_html, render, run_html
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


@dataclass(frozen=True)
class RunRow:
    """One line of a run list."""

    thread_id: str
    graph: str
    question: str
    started: str
    ms: str
    visits: int
    tokens: int
    status: str
    run_ids: tuple[str, ...]
    href: str = ""
    link_id: str = ""
    """What ``/runs/{thread_id}`` takes for this run: the thread id for its newest run, else the run's own thread."""


def list_runs(settings: Settings, namespace: str, limit: int = 200) -> list[RunRow]:
    """Threads run in ``namespace``, newest first, with question, time, node visits, tokens and status."""
    validate_namespace(namespace)
    path = checkpoint_path(settings)
    if not path.is_file():
        return []
    rows: list[RunRow] = []
    with read_only(path) as conn:
        graphs = {name: compiled(name, conn) for name in ("answer", "ingest", "chat")}
        for t in list_threads(conn, namespace, limit):
            records = _records(settings, t.checkpoint_thread)
            values = graphs[t.graph].get_state({"configurable": {"thread_id": t.checkpoint_thread}}).values
            rows.append(_row(t, records, values))
    return rows


def _row(t: ThreadSummary, records: list[RunRecord], values: dict[str, Any]) -> RunRow:
    started = records[0].started_at.strftime("%Y-%m-%d %H:%M:%S") if records else ""
    tokens = sum(c.prompt_tokens + c.completion_tokens for r in records for c in r.calls)
    status = ",".join(sorted({r.status for r in records})) or "unrecorded"
    question = str(values.get("question") or f"{len(values.get('items') or [])} items")
    return RunRow(t.thread_id, t.graph, question, started, f"{sum(r.duration_ms for r in records):.0f}",
                  sum(1 for r in records for v in r.nodes if not v.within), tokens, status, t.run_ids,
                  link_id=t.thread_id if t.newest else t.checkpoint_thread)


def runs_page(settings: Settings, namespace: str, run_href: str, memory_href: str) -> str:
    """A page listing the namespace's threads; ``run_href`` is formatted with ``thread_id``."""
    rows = [
        replace(r, href=run_href.format(thread_id=quote(r.link_id or r.thread_id, safe="")))
        for r in list_runs(settings, namespace)
    ]
    return render("runs.html.j2", namespace=namespace, rows=rows, memory_href=memory_href)


def run_view(settings: Settings, thread_id: str, namespace: str, memory: MemoryStore | None) -> RunView:
    """Gather one thread's run (refusing a thread of another namespace)."""
    validate_namespace(namespace)
    with read_only(checkpoint_path(settings)) as conn:
        thread_id = resolve_thread(conn, namespace, thread_id)
        graph_name, owner = thread_graph(conn, thread_id)
        if owner is not None and owner != namespace:
            raise NotFoundError(f"no checkpointed run with thread id {thread_id!r} in namespace {namespace!r}")
        return build_run_view(compiled(graph_name, conn), graph_name, thread_id, _records(settings, thread_id),
                              memory, namespace)


def run_page(settings: Settings, thread_id: str, namespace: str, memory: MemoryStore | None,
             memory_href: str = "") -> str:
    """The self-contained run page of one thread."""
    return run_html(run_view(settings, thread_id, namespace, memory), memory_href)


def memory_page(memory: MemoryStore, namespace: str, focus: str | None = None, limit: int = 200,
                runs_href: str = "") -> str:
    """The self-contained memory page of one namespace (``focus``: the item whose provenance shows first)."""
    return memory_html(build_memory_view(memory, namespace, limit, focus), runs_href)
