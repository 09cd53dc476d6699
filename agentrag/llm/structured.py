"""Turn a prompt plus a pydantic model into a validated instance.

Where the backend can constrain decoding to a JSON schema (llama.cpp grammar,
vLLM guided decoding) it does; otherwise the schema goes into the prompt and the
reply is parsed. Either way a bad reply gets one corrective retry that shows the
model its own output and the validation error, then a ``ParseError`` naming the
prompt id and showing the raw text.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Generator
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.constants import TAG_NOSTREAM
from pydantic import BaseModel, ValidationError

from agentrag.errors import BackendError, ParseError
from agentrag.llm.base import AgentChatModel
from agentrag.prompts import PromptLibrary, RenderedPrompt, default_library

log = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> str:
    """The JSON object inside a reply: fenced block, or the outermost braces."""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text.strip()


def _text(reply: Any) -> str:
    return reply.content if isinstance(reply.content, str) else str(reply.content)


def _failed(exc: Exception, kwargs: dict[str, Any]) -> Exception:
    """Any backend failure becomes one typed error with the cause attached (ours pass through)."""
    if isinstance(exc, ParseError | BackendError):
        return exc
    return BackendError(f"generator call for prompt {kwargs.get('prompt_id')!r} failed: {exc}")


def _call(llm: BaseChatModel, messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
    try:
        return _text(llm.invoke(messages, **kwargs))
    except Exception as exc:
        err = _failed(exc, kwargs)
        if err is exc:
            raise
        raise err from exc


async def _acall(llm: BaseChatModel, messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
    try:
        return _text(await llm.ainvoke(messages, **kwargs))
    except Exception as exc:
        err = _failed(exc, kwargs)
        if err is exc:
            raise
        raise err from exc


Exchange = Generator[list[BaseMessage], str, T]
"""The structured-output dialogue without I/O: yields the messages to send, receives the reply text."""


def _exchange(
    llm: BaseChatModel, prompt: RenderedPrompt, schema: type[T], max_tokens: int | None, library: PromptLibrary,
    kwargs: dict[str, Any],
) -> Exchange[T]:
    schema_json = schema.model_json_schema()
    constrained = isinstance(llm, AgentChatModel) and llm.supports_json_schema
    max_tokens = max_tokens or prompt.max_tokens
    if isinstance(llm, AgentChatModel):
        kwargs["prompt_id"] = prompt.id
        if constrained:
            kwargs["json_schema"] = schema_json
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
    user = prompt.user
    if not constrained:
        user += "\n\n" + library.render("common/json_reply", schema=json.dumps(schema_json)).user
    messages: list[BaseMessage] = [SystemMessage(prompt.system), HumanMessage(user)]

    raw = yield messages
    try:
        return schema.model_validate_json(extract_json(raw))
    except ValidationError as first:
        log.warning("prompt %s: reply did not validate as %s, retrying once", prompt.id, schema.__name__)
        retry = library.render("common/json_retry", error=_short(first), schema=json.dumps(schema_json))
        messages = [*messages, AIMessage(raw), HumanMessage(retry.user)]
        raw2 = yield messages
        try:
            return schema.model_validate_json(extract_json(raw2))
        except ValidationError as second:
            raise ParseError(prompt.id, schema.__name__, raw2, _short(second)) from second


def structured(
    llm: BaseChatModel,
    prompt: RenderedPrompt,
    schema: type[T],
    *,
    max_tokens: int | None = None,
    prompts: PromptLibrary | None = None,
    streamed: bool = True,
) -> T:
    """Ask ``llm`` for ``prompt`` and return a validated ``schema`` instance.

    ``streamed=False`` keeps the reply's tokens out of a graph's ``messages`` stream (LangGraph's
    ``nostream`` tag): a node's preliminary call must not reach a chat client as answer text.
    """
    kwargs: dict[str, Any] = {} if streamed else {"config": {"tags": [TAG_NOSTREAM]}}
    talk = _exchange(llm, prompt, schema, max_tokens, prompts or default_library(), kwargs)
    try:
        messages = next(talk)
        while True:
            messages = talk.send(_call(llm, messages, kwargs))
    except StopIteration as done:
        result: T = done.value
        return result


async def astructured(
    llm: BaseChatModel,
    prompt: RenderedPrompt,
    schema: type[T],
    *,
    max_tokens: int | None = None,
    prompts: PromptLibrary | None = None,
    streamed: bool = True,
) -> T:
    """Async ``structured``: the call awaits the backend (the OpenAI backend's async client), holding no thread."""
    kwargs: dict[str, Any] = {} if streamed else {"config": {"tags": [TAG_NOSTREAM]}}
    talk = _exchange(llm, prompt, schema, max_tokens, prompts or default_library(), kwargs)
    try:
        messages = next(talk)
        while True:
            messages = talk.send(await _acall(llm, messages, kwargs))
    except StopIteration as done:
        result: T = done.value
        return result


def _short(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in err.errors()[:5])


def structured_many(
    llm: BaseChatModel,
    prompts_: list[RenderedPrompt],
    schema: type[T],
    *,
    prompts: PromptLibrary | None = None,
    concurrency: int = 8,
) -> list[T | ParseError]:
    """Run several structured calls at once where the backend can serve them concurrently.

    A vLLM server batches concurrent requests; the in-process llama.cpp model is
    serialised anyway, so it runs them one by one. Context (LangGraph callbacks,
    usage tracking, streaming) is carried into the worker threads. A reply that
    cannot be parsed comes back as its ``ParseError`` so one bad item does not
    sink the batch.
    """
    from langchain_core.runnables.config import ContextThreadPoolExecutor

    def one(p: RenderedPrompt) -> T | ParseError:
        try:
            return structured(llm, p, schema, prompts=prompts)
        except ParseError as exc:
            return exc

    workers = 1 if getattr(llm, "serial", False) else max(1, min(concurrency, len(prompts_)))
    if workers == 1:
        return [one(p) for p in prompts_]
    with ContextThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, prompts_))
