"""OpenAI Chat Completions over agentrag: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Any OpenAI client or chat UI can point its ``base_url`` at ``agentrag serve``. A
request is one chat turn: the last user message is the question (earlier messages
are the client's copy of the conversation; agentrag's memory already holds what
the user said), ``user`` names the end user whose memory answers it (inside the
API key's tenant), and ``metadata.session_id`` names the conversation, which is
also the checkpoint thread. The reply is OpenAI's shape plus an ``agentrag``
object: citations to memory items (id, level, text), route, rounds, thread id.

``stream: true`` sends ``chat.completion.chunk`` events: the role, the answer text
as the answerer writes it, a last chunk with ``finish_reason``, ``usage`` and the
``agentrag`` object, then ``data: [DONE]``. An error after the stream started is
sent as a ``data: {"error": {...}}`` event, which OpenAI clients raise as an error.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from agentrag.api import AgentRAG, check_question
from agentrag.errors import AgentRagError, InputError
from agentrag.runner import check_thread_id
from agentrag.server.auth import Authenticated
from agentrag.server.errors import responses, status_for
from agentrag.server.turns import chat_turn, stream_turn
from agentrag.types import Answer

log = logging.getLogger(__name__)

MODEL_ID = "agentrag"
DEFAULT_USER = "default"


class ContentPart(BaseModel):
    """One part of a multi-part message; only text parts are read."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    """One message of the conversation, as OpenAI clients send it."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        """The message's text (text parts joined; images and other parts are ignored)."""
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class StreamOptions(BaseModel):
    """OpenAI's ``stream_options``."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's request body; generation knobs it does not use (temperature...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(MODEL_ID, description="echoed back; agentrag answers with its configured generator")
    messages: list[ChatMessage] = Field(description="the conversation; the last user message is the question")
    stream: bool = Field(False, description="send chat.completion.chunk server-sent events, ending with [DONE]")
    stream_options: StreamOptions | None = None
    user: str | None = Field(
        None, description=f"the end user whose memory answers (inside the key's tenant); default {DEFAULT_USER!r}"
    )
    metadata: dict[str, str] | None = Field(
        None, description="`session_id` names the conversation (and its checkpoint thread)"
    )
    n: int = Field(1, ge=1, le=1, description="only one choice is supported")

    def question(self) -> str:
        """The last user message's text."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text()
        raise InputError("messages has no user message; the last user message is the question")


class MemoryCitation(BaseModel):
    """A memory item the answer rests on."""

    item_id: str | None
    level: str | None = Field(description="raw, fact or episode")
    text: str


class AgentRagInfo(BaseModel):
    """The ``agentrag`` extension object of a completion."""

    citations: list[MemoryCitation]
    route: str | None = Field(description="none, single or iterative")
    rounds: int
    thread_id: str
    run_id: str | None
    abstained: bool
    namespace_user: str = Field(description="the end user whose memory answered")


class Usage(BaseModel):
    """Tokens the turn used, summed over every generator call (answering and remembering)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    """The reply."""

    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    """The one choice."""

    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class ChatCompletion(BaseModel):
    """OpenAI's ``chat.completion`` with the ``agentrag`` extension."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    agentrag: AgentRagInfo


class ModelCard(BaseModel):
    """One entry of ``/v1/models``."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "agentrag"


class ModelList(BaseModel):
    """OpenAI's model list."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


_STARTED = int(time.time())
_LEVELS = {"r": "raw", "f": "fact", "e": "episode"}


def _level(item_id: str | None) -> str | None:
    """An item id starts with its level's initial (``agentrag.types.item_id``)."""
    return _LEVELS.get(item_id[:1]) if item_id and item_id[1:2] == "-" else None


def _info(answer: Answer, user: str) -> AgentRagInfo:
    cites = [MemoryCitation(item_id=c.item_id, level=_level(c.item_id), text=c.text) for c in answer.citations]
    return AgentRagInfo(
        citations=cites,
        route=answer.route.kind if answer.route is not None else None,
        rounds=answer.rounds,
        thread_id=answer.thread_id or "",
        run_id=answer.run_id,
        abstained=answer.abstained,
        namespace_user=user,
    )


def _usage(answer: Answer) -> Usage:
    u = answer.usage
    return Usage(prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens, total_tokens=u.total_tokens)


def _chunk(
    cid: str, model: str, delta: dict[str, Any] | None, finish: str | None = None, **extra: Any
) -> str:
    """One ``chat.completion.chunk`` event; ``delta=None``: no choices (the usage-only chunk)."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
    body = {
        "id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
        "choices": choices, **extra,
    }
    return f"data: {json.dumps(body)}\n\n"


async def _stream(
    rag: AgentRAG, body: ChatCompletionRequest, question: str, namespace: str, user: str
) -> AsyncIterator[str]:
    cid, model, session = f"chatcmpl-{uuid.uuid4().hex}", body.model, _session(body)
    yield _chunk(cid, model, {"role": "assistant", "content": ""})
    try:
        async for event in stream_turn(rag, question, namespace=namespace, session_id=session):
            if event.kind == "token" and event.text:
                yield _chunk(cid, model, {"content": event.text})
            elif event.kind == "answer":
                answer: Answer = event.data
                usage, info = _usage(answer).model_dump(), _info(answer, user).model_dump()
                yield _chunk(cid, model, {}, "stop", usage=usage, agentrag=info)
                if body.stream_options is not None and body.stream_options.include_usage:
                    yield _chunk(cid, model, None, usage=usage)
    except AgentRagError as exc:
        error = {"message": str(exc), "type": type(exc).__name__, "code": status_for(exc)}
        yield f"data: {json.dumps({'error': error})}\n\n"
    except Exception as exc:  # the response has started: the error can only travel as an event
        log.exception("unhandled error in a streamed chat completion")
        error = {"message": f"internal error ({type(exc).__name__}); see the server log", "type": "InternalError",
                 "code": 500}
        yield f"data: {json.dumps({'error': error})}\n\n"
    yield "data: [DONE]\n\n"


def _session(body: ChatCompletionRequest) -> str | None:
    """``metadata.session_id``, checked before a stream starts (so a bad one is a 422, not a broken stream)."""
    session = (body.metadata or {}).get("session_id")
    return check_thread_id(session) if session is not None else None


def mount_openai(app: FastAPI) -> None:
    """Add ``/v1/chat/completions`` and ``/v1/models`` (before the ``/v1/{namespace}/...`` routes)."""

    @app.get("/v1/models")
    def models(who: Authenticated) -> ModelList:
        """The one model agentrag serves (OpenAI's model list, for clients and chat UIs that ask)."""
        return ModelList(data=[ModelCard(id=MODEL_ID, created=_STARTED)])

    @app.post(
        "/v1/chat/completions",
        response_model=ChatCompletion,
        responses={**responses(502, 503, 504), 200: {"content": {"text/event-stream": {}}}},
    )
    async def completions(
        body: ChatCompletionRequest, request: Request, who: Authenticated
    ) -> ChatCompletion | StreamingResponse:
        """One chat turn, OpenAI-compatible: answer from the end user's memory (with citations), then remember it.

        `user` is the end user (inside the key's tenant), `metadata.session_id` the conversation;
        `stream: true` answers with chat.completion.chunk events ending with `data: [DONE]`.
        """
        rag: AgentRAG = request.app.state.rag
        user = body.user or DEFAULT_USER
        namespace, question, session = who.namespace(user), check_question(body.question()), _session(body)
        if body.stream:
            events = _stream(rag, body, question, namespace, user)
            return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        answer = await chat_turn(rag, question, namespace=namespace, session_id=session)
        return ChatCompletion(
            id=f"chatcmpl-{answer.run_id or uuid.uuid4().hex}",
            created=int(time.time()),
            model=body.model,
            choices=[Choice(message=AssistantMessage(content=answer.text))],
            usage=_usage(answer),
            agentrag=_info(answer, user),
        )
