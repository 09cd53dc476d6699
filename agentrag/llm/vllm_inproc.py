"""vLLM in process (``vllm.LLM``) for single-process GPU jobs such as eval runs.

vLLM is imported lazily: it pins its own torch, so it lives in a separate
environment (``pip install 'agentrag[gpu]'`` there). ``close()`` releases the
engine and empties the CUDA cache so a notebook can load another model.
Structured output uses vLLM's guided decoding with the JSON schema.
"""

from __future__ import annotations

import gc
import logging
from typing import Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from agentrag.errors import BackendError, MissingDependencyError
from agentrag.llm.base import AgentChatModel, final_message, to_openai_messages
from agentrag.settings import VLLMConfig

log = logging.getLogger(__name__)


def engine_kwargs(config: VLLMConfig) -> dict[str, Any]:
    """The ``vllm.LLM(...)`` arguments for a config (kept pure so it is testable without vLLM)."""
    kwargs: dict[str, Any] = {
        "model": config.model,
        "dtype": config.dtype,
        "gpu_memory_utilization": config.gpu_memory_utilization,
        "tensor_parallel_size": config.tensor_parallel_size,
        "seed": config.seed,
        "enforce_eager": config.enforce_eager,
    }
    if config.max_model_len is not None:
        kwargs["max_model_len"] = config.max_model_len
    return kwargs


def sampling_kwargs(config: VLLMConfig, max_tokens: int | None, json_schema: dict[str, Any] | None) -> dict[str, Any]:
    """The ``SamplingParams`` arguments, minus the guided-decoding object (built by vLLM)."""
    return {
        "temperature": config.temperature,
        "max_tokens": max_tokens or config.max_tokens,
        "seed": config.seed,
        "json_schema": json_schema,
    }


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise MissingDependencyError(
            "vllm", extra="gpu", why="the in-process vLLM backend needs it; use a separate environment"
        ) from exc
    return vllm


class VLLMChatModel(AgentChatModel):
    """Chat through an in-process vLLM engine."""

    supports_json_schema: ClassVar[bool] = True

    config: VLLMConfig
    _engine: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "agentrag-vllm"

    def _llm(self) -> Any:
        if self._engine is None:
            vllm = _import_vllm()
            self._engine = vllm.LLM(**engine_kwargs(self.config))
        return self._engine

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        vllm = _import_vllm()
        sk = sampling_kwargs(self.config, kwargs.get("max_tokens"), kwargs.get("json_schema"))
        schema = sk.pop("json_schema")
        if schema is not None:
            from vllm.sampling_params import GuidedDecodingParams

            sk["guided_decoding"] = GuidedDecodingParams(json=schema)
        if stop:
            sk["stop"] = stop
        try:
            outs = self._llm().chat([to_openai_messages(messages)], vllm.SamplingParams(**sk), use_tqdm=False)
        except Exception as exc:  # vLLM raises many types; surface one with the cause
            raise BackendError(f"in-process vLLM failed: {exc}") from exc
        out = outs[0]
        text = out.outputs[0].text
        msg = final_message(
            text, len(out.prompt_token_ids), len(out.outputs[0].token_ids), model_name=self.config.model
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def close(self) -> None:
        """Drop the engine and free GPU memory."""
        if self._engine is None:
            return
        self._engine = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
