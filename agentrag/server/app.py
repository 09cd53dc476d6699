"""FastAPI app for chat backends: ask, chat (optionally streamed as server-sent events), add, search, history.

One ``AgentRAG`` per process, created at startup from settings. Requests are
scoped by the namespace in the path; the store enforces it again. User errors
map to 4xx with the library's message; backend failures to 502/504.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from agentrag.api import AgentRAG, IngestReport
from agentrag.errors import AgentRagError, BackendError, InputError, NamespaceError
from agentrag.ingest import Document
from agentrag.memory.store import HistoryEntry
from agentrag.settings import Settings
from agentrag.types import Answer, Hit


class AskRequest(BaseModel):
    """A question (or chat turn) for one namespace."""

    model_config = ConfigDict(extra="forbid")

    question: str
    thread_id: str | None = None
    session_id: str | None = None
    stream: bool = False


class AddRequest(BaseModel):
    """Documents or chat messages to remember."""

    model_config = ConfigDict(extra="forbid")

    documents: list[Document] = Field(default_factory=list)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    derive: bool = True


class ForgetRequest(BaseModel):
    """Ids to hard-delete, with the reason recorded in history."""

    model_config = ConfigDict(extra="forbid")

    ids: list[str]
    reason: str = "forget requested via API"


def create_app(settings: Settings | None = None, rag: AgentRAG | None = None) -> FastAPI:
    """Build the app; pass ``rag`` to share an instance (tests, embedding in a larger app)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.rag = rag or AgentRAG(settings)
        yield
        if rag is None:
            app.state.rag.close()

    app = FastAPI(title="agentrag", lifespan=lifespan)

    @app.exception_handler(AgentRagError)
    async def _errors(request: Request, exc: AgentRagError) -> JSONResponse:
        match exc:
            case NamespaceError() | InputError():
                status = 422
            case BackendError():
                status = 504 if "timed out" in str(exc) else 502
            case _:
                status = 500
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=status)

    def get(request: Request) -> AgentRAG:
        r: AgentRAG = request.app.state.rag
        return r

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/{namespace}/ask", response_model=None)
    async def ask(namespace: str, body: AskRequest, request: Request) -> Answer | StreamingResponse:
        r = get(request)
        if body.stream:
            return StreamingResponse(_sse(r, body.question, namespace, body.thread_id), media_type="text/event-stream")
        return await r.aask(body.question, namespace=namespace, thread_id=body.thread_id)

    @app.post("/v1/{namespace}/chat")
    def chat(namespace: str, body: AskRequest, request: Request) -> Answer:
        return get(request).chat(
            body.question, namespace=namespace, session_id=body.session_id, thread_id=body.thread_id
        )

    @app.post("/v1/{namespace}/memory")
    def add(namespace: str, body: AddRequest, request: Request) -> IngestReport:
        data: list[Any] = [*body.documents, *body.messages]
        return get(request).add(data, namespace=namespace, derive=body.derive)

    @app.get("/v1/{namespace}/search")
    def search(namespace: str, q: str, request: Request, k: int = 5) -> list[Hit]:
        return get(request).search(q, namespace=namespace, k=k)

    @app.get("/v1/{namespace}/items/{item_id}/history")
    def history(namespace: str, item_id: str, request: Request) -> list[HistoryEntry]:
        return get(request).history(item_id, namespace=namespace)

    @app.post("/v1/{namespace}/forget")
    def forget(namespace: str, body: ForgetRequest, request: Request) -> dict[str, int]:
        return {"forgotten": get(request).forget(body.ids, namespace=namespace, reason=body.reason)}

    from agentrag.pages.routes import mount_pages

    mount_pages(app)  # /runs, /runs/{thread_id}, /memory/{namespace}: HTML pages of runs and memory
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
        yield f"event: error\ndata: {json.dumps({'error': type(exc).__name__, 'detail': str(exc)})}\n\n"
