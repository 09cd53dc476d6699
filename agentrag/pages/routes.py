"""The pages served by ``agentrag serve``: ``/runs``, ``/runs/{thread_id}`` and ``/memory/{namespace}``.

Same HTML as ``agentrag trace`` exports, linked to each other. The namespace is part of
every request and is checked against the thread's, as the JSON API does; once the
service has API keys these routes sit behind them like the rest.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from agentrag.api import AgentRAG
from agentrag.pages.pages import memory_page, run_page, runs_page


def _rag(request: Request) -> AgentRAG:
    rag: AgentRAG = request.app.state.rag
    return rag


def mount_pages(app: FastAPI) -> None:
    """Add the page routes to ``app`` (which holds an ``AgentRAG`` in ``app.state.rag``)."""
    from agentrag.server.errors import responses

    @app.get("/runs", response_class=HTMLResponse, responses=responses())
    def runs(namespace: str, request: Request) -> HTMLResponse:
        """The runs of a namespace, newest first, each linked to its run page."""
        rag = _rag(request)
        ns = quote(namespace, safe="")
        html = runs_page(rag.settings, namespace, run_href=f"/runs/{{thread_id}}?namespace={ns}",
                         memory_href=f"/memory/{ns}")
        return HTMLResponse(html)

    @app.get("/runs/{thread_id:path}", response_class=HTMLResponse, responses=responses(404))
    def run(thread_id: str, namespace: str, request: Request) -> HTMLResponse:
        """One run's self-contained page: graph and path taken, rounds, notes, evidence, memory changes."""
        rag = _rag(request)
        html = run_page(rag.settings, thread_id, namespace, rag.memory, memory_href=f"/memory/{quote(namespace)}")
        return HTMLResponse(html)

    @app.get("/memory/{namespace}", response_class=HTMLResponse, responses=responses())
    def memory(namespace: str, request: Request, item: str | None = None, limit: int = 200) -> HTMLResponse:
        """A namespace's memory page: items by level with validity, provenance graphs and history."""
        html = memory_page(_rag(request).memory, namespace, focus=item, limit=limit,
                           runs_href=f"/runs?namespace={quote(namespace)}")
        return HTMLResponse(html)
