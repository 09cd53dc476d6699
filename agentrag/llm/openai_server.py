"""Any OpenAI-compatible chat endpoint; built for ``vllm serve``.

The endpoint is not the model class: a vLLM server, a llama.cpp server or a hosted
API are all this backend with another ``base_url``. Structured output goes through
``response_format`` json_schema, which vLLM enforces with guided decoding. Async
methods use the async client so many graph runs can be in flight at once and the
server can batch them.
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
from agentrag.settings import OpenAIConfig

log = logging.getLogger(__name__)


class OpenAIChatModel(AgentChatModel):
    """Chat completions against an OpenAI-compatible server, sync and async."""

    supports_json_schema: ClassVar[bool] = True
    supports_logprobs: ClassVar[bool] = True

    config: OpenAIConfig = OpenAIConfig()
    _client: openai.OpenAI | None = PrivateAttr(default=None)
    _aclient: openai.AsyncOpenAI | None = PrivateAttr(default=None)
    _model: str | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "agentrag-openai"

    def _sync(self) -> openai.OpenAI:
        if self._client is None:
            c = self.config
            self._client = openai.OpenAI(
                base_url=c.base_url, api_key=c.api_key, timeout=c.timeout_s, max_retries=c.max_retries
            )
        return self._client

    def _async(self) -> openai.AsyncOpenAI:
        if self._aclient is None:
            c = self.config
            self._aclient = openai.AsyncOpenAI(
                base_url=c.base_url, api_key=c.api_key, timeout=c.timeout_s, max_retries=c.max_retries
            )
        return self._aclient

    @property
    def model_name(self) -> str:
        """The served model: from config, else the first model the server lists."""
        if self._model is None:
            if self.config.model:
                self._model = self.config.model
            else:
                try:
                    models = self._sync().models.list().data
                except openai.OpenAIError as exc:
                    raise self._error(exc) from exc
                if not models:
                    raise BackendError(f"the server at {self.config.base_url} serves no models")
                self._model = models[0].id
        return self._model

    async def _amodel_name(self) -> str:
        """``model_name`` without blocking the event loop on the first async call."""
        if self._model is None and not self.config.model:
            try:
                models = (await self._async().models.list()).data
            except openai.OpenAIError as exc:
                raise self._error(exc) from exc
            if not models:
                raise BackendError(f"the server at {self.config.base_url} serves no models")
            self._model = models[0].id
        return self.model_name

    def _error(self, exc: Exception) -> BackendError:
        where = self.config.base_url
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
            out = self._sync().chat.completions.create(**self._request(messages, stop, kwargs))
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
            out = await self._async().chat.completions.create(**req)
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
            stream = self._sync().chat.completions.create(**req, stream=True, stream_options={"include_usage": True})
            for part in stream:
                chunk = self._chunk(part)
                if chunk is None:
                    continue
                if run_manager and chunk.text:
                    run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        req = self._request(messages, stop, kwargs, await self._amodel_name())
        try:
            stream = await self._async().chat.completions.create(
                **req, stream=True, stream_options={"include_usage": True}
            )
            async for part in stream:
                chunk = self._chunk(part)
                if chunk is None:
                    continue
                if run_manager and chunk.text:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc

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
        """Close HTTP connection pools (the async pool is dropped; it closes with its event loop)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._aclient = None

    async def aclose(self) -> None:
        """Close both HTTP connection pools from async code."""
        if self._aclient is not None:
            await self._aclient.close()
            self._aclient = None
        self.close()
