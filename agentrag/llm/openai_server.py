"""Any OpenAI-compatible chat endpoint; built for ``vllm serve``.

The endpoint is not the model class: a vLLM server, a llama.cpp server or a hosted
API are all this backend with another ``base_url``. Structured output goes through
``response_format`` json_schema, which vLLM enforces with guided decoding. Async
methods use the async client so many graph runs can be in flight at once and the
server can batch them. With ``base_urls`` the requests are spread over several
replicas by outstanding requests, with failover (``agentrag.llm.replicas``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from agentrag.errors import BackendError
from agentrag.llm.base import AgentChatModel, final_message, to_openai_messages, usage_chunk
from agentrag.llm.replicas import Replica, ReplicaPool
from agentrag.settings import OpenAIConfig

log = logging.getLogger(__name__)


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
                except openai.OpenAIError as exc:
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
            except openai.OpenAIError as exc:
                raise self._error(exc) from exc
            if not models:
                raise BackendError(f"the server at {self._where} serves no models")
            self._model = models[0].id
        return self.model_name

    @property
    def _where(self) -> str:
        return ", ".join(r.url for r in self.pool.replicas)

    def _error(self, exc: Exception) -> BackendError:
        where = self._where
        match exc:
            case openai.APITimeoutError():
                return BackendError(f"the server at {where} timed out after {self.config.timeout_s}s")
            case openai.APIConnectionError():
                return BackendError(f"cannot reach an OpenAI-compatible server at {where}: is it running?")
            case openai.APIStatusError():
                return BackendError(f"the server at {where} answered {exc.status_code}: {exc.message}")
            case _:
                return BackendError(f"request to {where} failed: {exc}")

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
        choice = out.choices[0]
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
        try:
            req = self._request(messages, stop, kwargs)
            out = self.pool.call(lambda r: self._sync(r).chat.completions.create(**req))
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        return self._result(out)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        try:
            req = self._request(messages, stop, kwargs, await self._amodel_name())
            out = await self.pool.acall(lambda r: self._async(r).chat.completions.create(**req))
        except openai.OpenAIError as exc:
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
        try:
            replica, stream = self.pool.open(
                lambda r: self._sync(r).chat.completions.create(
                    **req, stream=True, stream_options={"include_usage": True}
                )
            )
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        try:
            for part in stream:
                chunk = self._chunk(part)
                if chunk is None:
                    continue
                if run_manager and chunk.text:
                    run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        finally:
            self.pool.finish(replica)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        req = self._request(messages, stop, kwargs, await self._amodel_name())
        try:
            replica, stream = await self.pool.aopen(
                lambda r: self._async(r).chat.completions.create(
                    **req, stream=True, stream_options={"include_usage": True}
                )
            )
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        try:
            async for part in stream:
                chunk = self._chunk(part)
                if chunk is None:
                    continue
                if run_manager and chunk.text:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        finally:
            self.pool.finish(replica)

    @staticmethod
    def _chunk(part: Any) -> ChatGenerationChunk | None:
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
