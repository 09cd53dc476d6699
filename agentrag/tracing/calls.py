"""What the callback handlers read off LangChain/LangGraph callback events, in one place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.outputs import ChatGeneration, LLMResult


def is_node_run(name: object, tags: Sequence[str] | None, metadata: dict[str, Any] | None) -> bool:
    """Whether a chain run is a graph node visit (not a router or LangGraph's own plumbing)."""
    md = metadata or {}
    return bool(name) and md.get("langgraph_node") == name and any(t.startswith("graph:step:") for t in tags or ())


def within(metadata: dict[str, Any] | None) -> str:
    """The top-level node whose subgraph a run belongs to ("" for the graph's own nodes)."""
    ns = str((metadata or {}).get("langgraph_checkpoint_ns") or "")
    return ns.split("|", 1)[0].split(":", 1)[0] if "|" in ns else ""


def model_of(params: dict[str, Any] | None, metadata: dict[str, Any] | None = None) -> str:
    """The model a chat-model call names in its invocation parameters (or LangSmith metadata)."""
    p, md = params or {}, metadata or {}
    return str(p.get("model") or p.get("model_name") or md.get("ls_model_name") or p.get("_type") or "")


@dataclass(frozen=True)
class Reply:
    """Tokens, text and served model name of one chat-model result."""

    prompt_tokens: int
    completion_tokens: int
    text: str
    model: str | None

    @classmethod
    def of(cls, response: LLMResult) -> Reply:
        """Sum usage over all generations (streams report it on the closing chunk)."""
        prompt = completion = 0
        text, model = "", None
        for gens in response.generations:
            for gen in gens:
                if not isinstance(gen, ChatGeneration):
                    continue
                usage = getattr(gen.message, "usage_metadata", None) or {}
                prompt += int(usage.get("input_tokens", 0))
                completion += int(usage.get("output_tokens", 0))
                content = gen.message.content
                text += content if isinstance(content, str) else str(content)
                model = model or gen.message.response_metadata.get("model_name")
        return cls(prompt, completion, text, model)
