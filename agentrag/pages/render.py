"""Rendering page views to self-contained HTML with the templates beside this module (autoescaped)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from agentrag.pages import svg
from agentrag.pages.memory_view import MemoryView, provenance_svg
from agentrag.pages.run_view import RunView

TERMINALS = {"__start__": "start", "__end__": "end"}
TIMES = "\u00d7"
"""The multiplication sign, as in "visited x2"."""


@cache
def _env() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(Path(__file__).parent / "templates"))
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)


def render(template: str, **context: Any) -> str:
    """Render one page template."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return _env().get_template(template).render(generated_at=stamp, **context)


def run_graph_svg(run: RunView) -> str:
    """The graph with the run's path highlighted and per-node visits, time and tokens."""
    stats = run.per_node()
    taken = run.taken
    nodes = []
    for n in run.nodes:
        if n in TERMINALS:
            classes: tuple[str, ...] = ("terminal", "visited") if (n == "__start__" or run.finished) else ("terminal",)
            nodes.append(svg.Node(n, TERMINALS[n], classes=classes))
            continue
        visits, ms, tok = stats.get(n, (0, 0.0, None))
        tokens = f" · {tok.total_tokens} tok" if tok and tok.calls else ""
        sub = f"{TIMES}{visits} · {ms:.0f} ms{tokens}" if visits else ""
        nodes.append(svg.Node(n, n, sub=sub, classes=("visited",) if visits else (), title=f"{n}: {visits} visits"))
    edges = [
        svg.Edge(a, b, classes=("taken",) if (a, b) in taken else (),
                 label=f"{TIMES}{taken[(a, b)]}" if taken.get((a, b), 0) > 1 else "")
        for a, b in run.edges
    ]
    return svg.render(nodes, edges, css_class="graph run-graph", title=f"{run.graph} graph, path taken highlighted")


def run_html(run: RunView, memory_href: str = "") -> str:
    """The run page."""
    span = max([s.offset_ms + (s.duration_ms or 0) for s in run.steps] or [1.0]) or 1.0

    def pct(ms: float) -> str:
        return f"{max(0.0, min(100.0, 100 * ms / span)):.2f}"

    return render("run.html.j2", run=run, svg=run_graph_svg(run), per_node=run.per_node(), pct=pct,
                  memory_href=memory_href)


def memory_html(mem: MemoryView, runs_href: str = "") -> str:
    """The memory page of one namespace."""
    svgs = {i: provenance_svg(ex, mem.panels) for i, ex in mem.panels.items()}
    return render("memory.html.j2", mem=mem, svgs=svgs, runs_href=runs_href)
