"""The pages served by ``agentrag serve``: ``/runs``, ``/runs/{thread_id}`` and ``/memory/{namespace}``.

Same HTML as ``agentrag trace`` exports, linked to each other. The namespace is part of
every request and is checked against the thread's, as the JSON API does. These routes sit
behind the API keys like the rest: ``namespace`` names the end user inside the key's
tenant (links keep that short name; the library sees ``<tenant>:<user>``), and a
thread of another tenant or user is a 404.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from agentrag.api import AgentRAG
from agentrag.pages.pages import memory_page, run_page, runs_page
from agentrag.server.auth import Authenticated, QueryNamespace, UserNamespace


def _rag(request: Request) -> AgentRAG:
    rag: AgentRAG = request.app.state.rag
    return rag


def mount_pages(app: FastAPI) -> None:
    """Add the page routes to ``app`` (which holds an ``AgentRAG`` in ``app.state.rag``)."""
    from agentrag.server.errors import responses

    @app.get("/runs", response_class=HTMLResponse, responses=responses())
    def runs(ns: QueryNamespace, who: Authenticated, request: Request) -> HTMLResponse:
        """The runs of a namespace, newest first, each linked to its run page."""
        rag = _rag(request)
        user = quote(who.user_of(ns), safe="")
        html = runs_page(rag.settings, ns, run_href=f"/runs/{{thread_id}}?namespace={user}",
                         memory_href=f"/memory/{user}")
        return HTMLResponse(html)

    @app.get("/runs/{thread_id:path}", response_class=HTMLResponse, responses=responses(404))
    def run(thread_id: str, ns: QueryNamespace, who: Authenticated, request: Request) -> HTMLResponse:
        """One run's self-contained page: graph and path taken, rounds, notes, evidence, memory changes."""
        rag = _rag(request)
        html = run_page(rag.settings, thread_id, ns, rag.memory, memory_href=f"/memory/{quote(who.user_of(ns))}")
        return HTMLResponse(html)

    @app.get("/memory/{namespace}", response_class=HTMLResponse, responses=responses())
    def memory(
        ns: UserNamespace, who: Authenticated, request: Request, item: str | None = None, limit: int = 200
    ) -> HTMLResponse:
        """A namespace's memory page: items by level with validity, provenance graphs and history."""
        html = memory_page(_rag(request).memory, ns, focus=item, limit=limit,
                           runs_href=f"/runs?namespace={quote(who.user_of(ns))}")
        return HTMLResponse(html)
