"""FastAPI app for chat backends: ask, chat (optionally streamed as server-sent events), memory routes.

One ``AgentRAG`` per process, created at startup from settings, so the embedder
and the generator load once and serve every request. Every data route needs
``Authorization: Bearer KEY`` (``agentrag.server.auth``); the key's tenant and the
end user (``user`` of a chat completion, ``{namespace}`` in the other paths) form
the namespace requests are scoped by; the store enforces it again. Every error has one shape
(``agentrag.server.errors.ErrorBody``); the API reference is served from the
package at ``/docs`` (no CDN), from ``/openapi.json``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from agentrag.api import AgentRAG, IngestReport, check_question
from agentrag.derivation import start_derivation, stop_workers
from agentrag.errors import AgentRagError, NotFoundError
from agentrag.ingest import Document
from agentrag.ledger.queue_base import QueueStats
from agentrag.memory.store import Explanation, HistoryEntry
from agentrag.server.auth import Authenticated, UserNamespace, document_401
from agentrag.server.errors import BodyLimit, ErrorBody, install, responses, status_for
from agentrag.settings import Settings, load_settings
from agentrag.types import Answer, Hit, MemoryItem

API_DESCRIPTION = """Question answering and chat over a long-lived memory, scoped by tenant and end user.

OpenAI-compatible: point any OpenAI client at `/v1` (`POST /v1/chat/completions`, `GET /v1/models`);
the request's `user` is the end user, `metadata.session_id` the conversation.

Authentication: every route but `/healthz` and the docs needs `Authorization: Bearer KEY`, a key made with
`agentrag keys create --tenant NAME`. The key's tenant plus the end user (`user`, or `{namespace}` in the
paths below) name the memory, so two tenants' users never meet and another tenant's ids are 404.

Every error response has the same JSON body: `{"error", "status", "detail", "fields"}`
(`ErrorBody`): 400 malformed JSON, 404 unknown item or route, 413 body over
`server.max_body_bytes`, 401 missing/unknown/revoked key, 422 invalid value, 500 bug,
502 generator failed, 503 a backend unreachable or overloaded, or a store (Chroma server, Postgres,
the disk) unavailable: retry later, 504 generator timed out."""


class AskRequest(BaseModel):
    """A question (or chat turn) for one namespace."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="the question or chat message")
    thread_id: str | None = Field(None, description="checkpoint thread id (resume or inspect later)")
    session_id: str | None = Field(None, description="chat session the turn belongs to (chat only)")
    stream: bool = Field(False, description="answer as server-sent events: node, token, then answer (ask only)")


class AddRequest(BaseModel):
    """Documents or chat messages to remember."""

    model_config = ConfigDict(extra="forbid")

    documents: list[Document] = Field(default_factory=list, description="documents (chunked)")
    messages: list[dict[str, Any]] = Field(
        default_factory=list,
        description="chat messages: {speaker|role|name, content, session_id, time} (kept whole, with their metadata)",
    )
    derive: bool = Field(True, description="also extract facts and episodes with the generator")


class ForgetRequest(BaseModel):
    """Ids to hard-delete, with the reason recorded in history."""

    model_config = ConfigDict(extra="forbid")

    ids: list[str]
    reason: str = "forget requested via API"


_ASK_200: dict[str, Any] = {
    "description": "the Answer, or with `stream` server-sent events: node, token, then answer (or error)",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Answer"}},
        "text/event-stream": {},  # events: node, token, answer (an Answer) or error (an ErrorBody)
    },
}


def create_app(settings: Settings | None = None, rag: AgentRAG | None = None, *, auth: bool | None = None) -> FastAPI:
    """Build the app; pass ``rag`` to share an instance (tests, embedding in a larger app).

    ``auth`` (default ``server.auth``, on) requires API keys; ``auth=False`` is for local
    development and in-process tests: namespaces are then taken as given, with no tenant.
    """
    resolved = settings or (rag.settings if rag else None) or load_settings()
    need_keys = resolved.server.auth if auth is None else auth

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from agentrag.ledger.keys import open_keys

        app.state.rag = rag or AgentRAG(resolved)
        app.state.keys = open_keys(resolved) if need_keys else None
        app.state.workers = start_derivation(app.state.rag)  # queue.workers threads in background mode
        yield
        stop_workers(app.state.workers)
        if app.state.keys is not None:
            app.state.keys.close()
        if rag is None:
            app.state.rag.close()

    limit = resolved.server.max_body_bytes
    app = FastAPI(
        title="agentrag",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        responses=responses(400, 413, 422, 503),
    )
    app.add_middleware(BodyLimit, limit=limit)
    install(app)

    def get(request: Request) -> AgentRAG:
        r: AgentRAG = request.app.state.rag
        return r

    @app.get("/healthz", responses={})
    async def healthz() -> dict[str, str]:
        """Liveness probe."""
        return {"status": "ok"}

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """The API reference, rendered in the browser from /openapi.json by a page shipped in the package."""
        return HTMLResponse(resources.files("agentrag.server").joinpath("docs.html").read_text(encoding="utf-8"))

    from agentrag.server.openai_compat import mount_openai

    mount_openai(app)  # /v1/chat/completions and /v1/models: OpenAI clients and chat UIs

    @app.post("/v1/{namespace}/ask", response_model=None, responses={**responses(502, 503, 504), 200: _ASK_200})
    async def ask(namespace: UserNamespace, body: AskRequest, request: Request) -> Answer | StreamingResponse:
        """Answer a question from the namespace's memory, with citations (or abstain)."""
        r = get(request)
        if body.stream:
            check_question(body.question)  # bad input is a 422 before the stream's 200 starts
            r.runner.scope(namespace, body.thread_id)
            return StreamingResponse(_sse(r, body.question, namespace, body.thread_id), media_type="text/event-stream")
        return await r.aask(body.question, namespace=namespace, thread_id=body.thread_id)

    @app.post("/v1/{namespace}/chat", responses=responses(502, 503, 504))
    def chat(namespace: UserNamespace, body: AskRequest, request: Request) -> Answer:
        """One chat turn: answer from memory as it was, then remember the message.

        With `queue.mode: background` (the default) the raw turn is stored and its
        facts and episodes are queued before the reply; see `GET /v1/queue`.
        """
        r = get(request)
        return r.chat(
            body.question, namespace=namespace, session_id=body.session_id, thread_id=body.thread_id,
            derive=r.settings.queue.mode,
        )

    @app.get("/v1/queue")
    def queue_status(request: Request, who: Authenticated) -> QueueStats:
        """The derivation queue of the key's tenant: jobs per status, the oldest pending job's age, expired leases."""
        return get(request).queue.stats("" if who.tenant is None else f"{who.tenant}:")

    @app.post("/v1/{namespace}/memory", responses=responses(502, 503, 504))
    def add(namespace: UserNamespace, body: AddRequest, request: Request) -> IngestReport:
        """Remember documents and chat messages (idempotent: adding the same input twice writes nothing)."""
        data: list[Any] = [*body.documents, *body.messages]
        return get(request).add(data, namespace=namespace, derive=body.derive)

    @app.get("/v1/{namespace}/search")
    def search(
        namespace: UserNamespace,
        request: Request,
        q: Annotated[str, Query(description="what to look for")],
        k: Annotated[int, Query(ge=1, le=100, description="how many results (1-100)")] = 5,
    ) -> list[Hit]:
        """Hybrid (dense + BM25) search over the namespace's currently valid memory."""
        return get(request).search(q, namespace=namespace, k=k)

    @app.get("/v1/{namespace}/items")
    def items(
        namespace: UserNamespace,
        request: Request,
        level: Annotated[Literal["raw", "fact", "episode"] | None, Query(description="one level only")] = None,
        limit: Annotated[int, Query(ge=0, le=1000, description="page size")] = 100,
        offset: Annotated[int, Query(ge=0, description="page start")] = 0,
        include_invalid: Annotated[bool, Query(description="also superseded / invalidated items")] = False,
    ) -> list[MemoryItem]:
        """List the namespace's items, oldest first."""
        return get(request).memory.list(
            namespace, level, limit=limit, offset=offset, include_invalid=include_invalid
        )

    @app.get("/v1/{namespace}/items/{item_id}/history", responses=responses(404))
    def history(namespace: UserNamespace, item_id: str, request: Request) -> list[HistoryEntry]:
        """Every recorded change to an item (also after it was forgotten); 404 if it never existed."""
        entries = get(request).history(item_id, namespace=namespace)
        if not entries:
            raise NotFoundError(f"no item {item_id!r} in namespace {namespace!r} (it has no history)")
        return entries

    @app.get("/v1/{namespace}/items/{item_id}/explain", responses=responses(404))
    def explain(namespace: UserNamespace, item_id: str, request: Request) -> Explanation:
        """Where an item came from (down to raw text), what it replaced and what replaced it."""
        return get(request).explain(item_id, namespace=namespace)

    @app.get("/v1/{namespace}/stats")
    def stats(namespace: UserNamespace, request: Request) -> dict[str, Any]:
        """Counts per level, history and provenance sizes, BM25 state."""
        store = get(request).memory
        stats_of = getattr(store, "stats", None)
        if stats_of is None:
            raise AgentRagError(f"{type(store).__name__} has no stats")
        return dict(stats_of(namespace))

    @app.post("/v1/{namespace}/forget")
    def forget(namespace: UserNamespace, body: ForgetRequest, request: Request) -> dict[str, int]:
        """Hard-delete items by id (recorded in history); the only way memory loses data."""
        return {"forgotten": get(request).forget(body.ids, namespace=namespace, reason=body.reason)}

    from agentrag.pages.routes import mount_pages

    mount_pages(app)  # /runs, /runs/{thread_id}, /memory/{namespace}: HTML pages of runs and memory
    document_401(app)
    return app


async def _sse(rag: AgentRAG, question: str, namespace: str, thread_id: str | None) -> AsyncIterator[str]:
    try:
        async for event in rag.astream(question, namespace=namespace, thread_id=thread_id):
            if event.kind == "token":
                yield f"event: token\ndata: {json.dumps(event.text)}\n\n"
            elif event.kind == "node":
                yield f"event: node\ndata: {json.dumps(event.node)}\n\n"
            else:
                yield f"event: answer\ndata: {event.data.model_dump_json()}\n\n"
    except AgentRagError as exc:
        body = ErrorBody(error=type(exc).__name__, status=status_for(exc), detail=str(exc))
        yield f"event: error\ndata: {body.model_dump_json()}\n\n"
