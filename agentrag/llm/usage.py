"""Token accounting per LLM call, per graph node and per run.

A callback handler rather than counters inside the backends, so usage is counted
for any LangChain chat model and attributed to the LangGraph node that made the
call (LangGraph puts ``langgraph_node`` in each call's metadata).
"""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from agentrag.types import TokenUsage


class UsageTracker(BaseCallbackHandler):
    """Sums prompt/completion tokens and calls, overall and by node. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._node_of: dict[UUID, str] = {}
        self.total = TokenUsage()
        self.by_node: dict[str, TokenUsage] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember which graph node made this call."""
        node = str((metadata or {}).get("langgraph_node") or "<outside graph>")
        with self._lock:
            self._node_of[run_id] = node

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Add the call's token usage to the totals."""
        prompt = completion = 0
        for gens in response.generations:
            for gen in gens:
                meta = getattr(gen.message, "usage_metadata", None) if isinstance(gen, ChatGeneration) else None
                if meta:
                    prompt += int(meta.get("input_tokens", 0))
                    completion += int(meta.get("output_tokens", 0))
        call = TokenUsage(prompt_tokens=prompt, completion_tokens=completion, calls=1)
        with self._lock:
            node = self._node_of.pop(run_id, "<outside graph>")
            self.total = self.total + call
            self.by_node[node] = self.by_node.get(node, TokenUsage()) + call
