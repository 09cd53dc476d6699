"""``agentrag trace ...``: list runs, export a run page, export a memory page.

Pages are self-contained HTML files (open them offline, attach them to a bug report).
Heavy modules (LangGraph, Chroma, the page renderer) are imported inside the commands,
so ``agentrag --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agentrag.cli_common import App, console, print_json, say, settings_for

if TYPE_CHECKING:
    from agentrag.settings import Settings

trace_app = App(help="See runs and memory as pages.")


def _settings() -> Settings:
    return settings_for(need_llm=False)

Namespace = Annotated[str, typer.Option("--namespace", "-n", help="whose runs / memory (tenant / user / agent)")]


@trace_app.command("list")
def list_cmd(
    namespace: Namespace,
    limit: Annotated[int, typer.Option(help="at most this many threads")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List the threads run in a namespace, newest first."""
    from agentrag.pages.pages import list_runs

    rows = list_runs(_settings(), namespace, limit)
    if as_json:
        print_json(json.dumps([r.__dict__ for r in rows]))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table("thread", "graph", "question", "started (UTC)", "ms", "visits", "tokens", "status")
    for r in rows:
        cells = (r.thread_id, r.graph, r.question[:60], r.started, r.ms, str(r.visits), str(r.tokens), r.status)
        table.add_row(*(Text(c) for c in cells))
    if rows:
        console().print(table)
    else:
        say(f"no runs recorded in namespace {namespace!r}")


@trace_app.command("export")
def export_cmd(
    thread_id: Annotated[str, typer.Argument(help="the run's thread id (see `agentrag trace list`)")],
    namespace: Namespace,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write")] = Path("run.html"),
    memory_href: Annotated[str, typer.Option(help="where links to memory items point, e.g. mem.html")] = "",
) -> None:
    """Write one run's page: graph and path taken, timeline, rounds, evidence, memory changes, checkpoints."""
    from agentrag.memory import open_store
    from agentrag.pages.pages import run_page

    settings = _settings()
    store = open_store(settings)
    try:
        html = run_page(settings, thread_id, namespace, store, memory_href=memory_href)
    finally:
        store.close()
    out.write_text(html, encoding="utf-8")
    say(f"wrote {out} ({len(html) // 1024} KiB)")


@trace_app.command("memory")
def memory_cmd(
    namespace: Namespace,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write")] = Path("memory.html"),
    item: Annotated[str | None, typer.Option(help="the item whose provenance shows first")] = None,
    limit: Annotated[int, typer.Option(help="at most this many items per level")] = 200,
) -> None:
    """Write a namespace's memory page: items by level with validity, provenance graphs, history."""
    from agentrag.memory import open_store
    from agentrag.pages.pages import memory_page

    store = open_store(_settings())
    try:
        html = memory_page(store, namespace, focus=item, limit=limit)
    finally:
        store.close()
    out.write_text(html, encoding="utf-8")
    say(f"wrote {out} ({len(html) // 1024} KiB)")
