"""Any OpenAI-compatible chat endpoint; built for ``vllm serve``.

The endpoint is not the model class: a vLLM server, a llama.cpp server or a hosted
API are all this backend with another ``base_url``. Structured output goes through
``response_format`` json_schema, which vLLM enforces with guided decoding. Async
methods use the async client so many graph runs can be in flight at once and the
server can batch them. With ``base_urls`` the requests are spread over several
replicas by outstanding requests, with failover (``agentrag.llm.replicas``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from agentrag.errors import BackendError, BackendUnavailableError
from agentrag.faults import http_transport_error
from agentrag.llm.base import AgentChatModel, final_message, to_openai_messages, usage_chunk
from agentrag.llm.replicas import Replica, ReplicaPool
from agentrag.settings import OpenAIConfig

log = logging.getLogger(__name__)


def _transport_errors() -> tuple[type[Exception], ...]:
    """The transport error class of each httpx package present (the OpenAI client uses the ``httpx2`` fork)."""
    found: list[type[Exception]] = []
    for name in ("httpx", "httpx2"):
        try:
            found.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


_FAILURES: tuple[type[Exception], ...] = (
    openai.OpenAIError,
    ValueError,
    TypeError,
    AttributeError,
    *_transport_errors(),
)
"""What a request can fail with: the client's errors, a transport error while reading a stream (not
wrapped by the client), and a malformed body (``JSONDecodeError`` is a ``ValueError``; JSON of the
wrong shape fails as ``TypeError`` / ``AttributeError`` where the client reads it)."""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "(no message)"


def _finish_reason(part: Any) -> str | None:
    choices = getattr(part, "choices", None) or []
    return getattr(choices[0], "finish_reason", None) if choices else None


class OpenAIChatModel(AgentChatModel):
    """Chat completions against an OpenAI-compatible server, sync and async."""

    supports_json_schema: ClassVar[bool] = True
    supports_logprobs: ClassVar[bool] = True

    config: OpenAIConfig = OpenAIConfig()
    _replica_pool: ReplicaPool | None = PrivateAttr(default=None)
    _model: str | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "agentrag-openai"

    @property
    def pool(self) -> ReplicaPool:
        """The servers: ``base_urls`` when given (least outstanding, failover), else ``base_url`` alone."""
        if self._replica_pool is None:
            c = self.config
            self._replica_pool = ReplicaPool(c.base_urls or [c.base_url], down_s=c.replica_down_s)
        return self._replica_pool

    def _retries(self) -> int:
        # with several replicas the failover is the retry: the client's own backoff would delay it
        return self.config.max_retries if len(self.pool) == 1 else 0

    def _sync(self, replica: Replica) -> openai.OpenAI:
        client = replica.clients.get("sync")
        if not isinstance(client, openai.OpenAI):
            c = self.config
            client = replica.clients["sync"] = openai.OpenAI(
                base_url=replica.url, api_key=c.api_key, timeout=c.timeout_s, max_retries=self._retries()
            )
        return client

    def _async(self, replica: Replica) -> openai.AsyncOpenAI:
        client = replica.clients.get("async")
        if not isinstance(client, openai.AsyncOpenAI):
            c = self.config
            client = replica.clients["async"] = openai.AsyncOpenAI(
                base_url=replica.url, api_key=c.api_key, timeout=c.timeout_s, max_retries=self._retries()
            )
        return client

    @property
    def model_name(self) -> str:
        """The served model: from config, else the first model the server lists."""
        if self._model is None:
            if self.config.model:
                self._model = self.config.model
            else:
                try:
                    models = self.pool.call(lambda r: self._sync(r).models.list().data)
                except _FAILURES as exc:
                    raise self._error(exc) from exc
                if not models:
                    raise BackendError(f"the server at {self._where} serves no models")
                self._model = models[0].id
        return self._model

    async def _amodel_name(self) -> str:
        """``model_name`` without blocking the event loop on the first async call."""
        if self._model is None and not self.config.model:
            async def listed(r: Replica) -> Any:
                return (await self._async(r).models.list()).data

            try:
                models = await self.pool.acall(listed)
            except _FAILURES as exc:
                raise self._error(exc) from exc
            if not models:
                raise BackendError(f"the server at {self._where} serves no models")
            self._model = models[0].id
        return self.model_name

    @property
    def _where(self) -> str:
        return ", ".join(r.url for r in self.pool.replicas)

    def _error(self, exc: Exception) -> BackendError:
        """One typed error per failure; ``BackendUnavailableError`` where waiting and retrying later may help.

        The client has already retried what is worth retrying (``max_retries``: connection
        errors, timeouts, 408/409/429/5xx), so the attempts per call are bounded by
        ``1 + max_retries``; the message says how many were made.
        """
        where, tries = self._where, self.config.max_retries + 1
        after = f" ({tries} attempt{'s' if tries > 1 else ''})"
        match exc:
            case openai.APITimeoutError():
                return BackendUnavailableError(f"the server at {where} timed out after {self.config.timeout_s}s{after}")
            case openai.APIConnectionError() if http_transport_error(exc.__cause__, "RemoteProtocolError", "ReadError"):
                return BackendUnavailableError(f"the connection to {where} broke mid-reply{after}")
            case openai.APIConnectionError():
                return BackendUnavailableError(
                    f"cannot reach an OpenAI-compatible server at {where}: is it running?{after}"
                )
            case openai.APIStatusError() if exc.status_code >= 500 or exc.status_code in (408, 429):
                return BackendUnavailableError(
                    f"the server at {where} answered {exc.status_code}: {_first_line(exc.message)}{after}"
                )
            case openai.APIStatusError():
                return BackendError(f"the server at {where} answered {exc.status_code}: {_first_line(exc.message)}")
            case _ if http_transport_error(exc):  # raised while reading a streamed body: the client does not wrap these
                return BackendUnavailableError(
                    f"the connection to {where} broke mid-reply ({type(exc).__name__}: {exc})"
                )
            case ValueError() | TypeError() | AttributeError():  # not JSON (JSONDecodeError), or the wrong shape
                return BackendUnavailableError(f"the server at {where} sent a malformed reply: {_first_line(str(exc))}")
            case _:
                return BackendError(f"request to {where} failed: {_first_line(str(exc))}")

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any], model: str | None = None
    ) -> dict[str, Any]:
        req: dict[str, Any] = {
            "model": model or self.model_name,
            "messages": to_openai_messages(messages),
            "temperature": self.config.temperature,
            "max_tokens": kwargs.get("max_tokens") or self.config.max_tokens,
        }
        if stop:
            req["stop"] = stop
        if kwargs.get("top_logprobs"):
            req["logprobs"] = True
            req["top_logprobs"] = int(kwargs["top_logprobs"])
        schema = kwargs.get("json_schema")
        if schema and self.config.json_schema:
            name = str(kwargs.get("prompt_id") or "reply").replace("/", "_")
            req["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": True},
            }
        return req

    def _result(self, out: Any) -> ChatResult:
        choices = getattr(out, "choices", None)
        if not isinstance(choices, list) or not choices or getattr(choices[0], "message", None) is None:
            raise BackendUnavailableError(
                f"the server at {self.config.base_url} sent a malformed reply with no choices: {str(out)[:200]}"
            )
        choice = choices[0]
        use = out.usage
        meta: dict[str, Any] = {}
        content = getattr(choice.logprobs, "content", None) if getattr(choice, "logprobs", None) else None
        if content:
            meta["top_logprobs"] = {t.token: float(t.logprob) for t in content[0].top_logprobs or []}
        msg = final_message(
            choice.message.content or "",
            use.prompt_tokens if use else 0,
            use.completion_tokens if use else 0,
            model_name=out.model,
            finish_reason=choice.finish_reason,
            **meta,
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        req = self._request(messages, stop, kwargs)
        try:
            out = self.pool.call(lambda r: self._sync(r).chat.completions.create(**req))
        except _FAILURES as exc:
            raise self._error(exc) from exc
        return self._result(out)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        req = self._request(messages, stop, kwargs, await self._amodel_name())
        try:
            out = await self.pool.acall(lambda r: self._async(r).chat.completions.create(**req))
        except _FAILURES as exc:
            raise self._error(exc) from exc
        return self._result(out)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        req = self._request(messages, stop, kwargs)
        finished = False
        try:
            replica, stream = self.pool.open(
                lambda r: self._sync(r).chat.completions.create(
                    **req, stream=True, stream_options={"include_usage": True}
                )
            )
        except _FAILURES as exc:
            raise self._error(exc) from exc
        try:
            for part in stream:
                finished = finished or _finish_reason(part) is not None
                chunk = self._chunk(part)
                if chunk is None:
                    continue
                if run_manager and chunk.text:
                    run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        except _FAILURES as exc:
            raise self._error(exc) from exc
        finally:
            self.pool.finish(replica)
        self._check_finished(finished)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        req = self._request(messages, stop, kwargs, await self._amodel_name())
        finished = False
        try:
            replica, stream = await self.pool.aopen(
                lambda r: self._async(r).chat.completions.create(
                    **req, stream=True, stream_options={"include_usage": True}
                )
            )
        except _FAILURES as exc:
            raise self._error(exc) from exc
        try:
            async for part in stream:
                finished = finished or _finish_reason(part) is not None
                chunk = self._chunk(part)
                if chunk is None:
                    continue
                if run_manager and chunk.text:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        except _FAILURES as exc:
            raise self._error(exc) from exc
        finally:
            self.pool.finish(replica)
        self._check_finished(finished)

    def _check_finished(self, finished: bool) -> None:
        """A stream that ends without a ``finish_reason`` was cut off (the server died or a proxy dropped it).

        Without this check the half reply would be taken for the whole one: parsed,
        cited, written to memory.
        """
        if not finished:
            raise BackendUnavailableError(
                f"the stream from {self._where} ended before the reply was complete (no finish_reason)"
            )

    @staticmethod
    def _chunk(part: Any) -> ChatGenerationChunk | None:
        if not hasattr(part, "choices"):
            raise ValueError(f"a stream event without choices: {str(part)[:200]}")
        if part.usage is not None and not part.choices:
            return ChatGenerationChunk(
                message=usage_chunk(part.usage.prompt_tokens, part.usage.completion_tokens, model_name=part.model)
            )
        if not part.choices:
            return None
        piece = part.choices[0].delta.content
        return ChatGenerationChunk(message=AIMessageChunk(content=piece)) if piece else None

    def close(self) -> None:
        """Close HTTP connection pools (the async pools are dropped; they close with their event loop)."""
        if self._replica_pool is not None:
            for r in self._replica_pool.replicas:
                client = r.clients.pop("sync", None)
                if isinstance(client, openai.OpenAI):
                    client.close()
                r.clients.pop("async", None)

    async def aclose(self) -> None:
        """Close every HTTP connection pool from async code."""
        if self._replica_pool is not None:
            for r in self._replica_pool.replicas:
                client = r.clients.pop("async", None)
                if isinstance(client, openai.AsyncOpenAI):
                    await client.close()
        self.close()
