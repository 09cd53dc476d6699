"""The common shape of agentrag's generator backends.

Every backend is a LangChain ``BaseChatModel`` so LangGraph can stream its
tokens and any other LangChain chat model can stand in. On top of that,
agentrag backends accept three call-time keywords: ``prompt_id`` (for logs, usage
and the scripted fake), ``json_schema`` (constrain the output where the
backend can) and ``top_logprobs`` (return the log-probabilities of the most likely
first reply tokens in ``response_metadata["top_logprobs"]``, where the backend can:
see ``agentrag.llm.decide``), and report token usage on every result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata

from agentrag.errors import InputError


class AgentChatModel(BaseChatModel):
    """Base of agentrag's own backends; says what the backend can do."""

    supports_json_schema: ClassVar[bool] = False
    """True when the backend can constrain output to a JSON schema (grammar / guided decoding)."""
    serial: ClassVar[bool] = False
    """True when calls are serialised in process (no gain from sending several at once)."""
    supports_logprobs: ClassVar[bool] = False
    """True when a call with ``top_logprobs=k`` returns the first reply token's alternatives."""

    def close(self) -> None:
        """Release what the backend holds (model weights, GPU memory, HTTP pools)."""


def usage(prompt_tokens: int, completion_tokens: int) -> UsageMetadata:
    """LangChain's usage record, which LangChain sums across stream chunks."""
    return UsageMetadata(
        input_tokens=prompt_tokens,
        output_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
    )


def to_openai_messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """Convert LangChain messages to the OpenAI chat format the servers and llama.cpp take."""
    roles = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}
    out: list[dict[str, str]] = []
    for m in messages:
        role = roles.get(m.type)
        if role is None:
            raise InputError(f"unsupported message type {m.type!r}; valid: {', '.join(roles)}")
        content = m.content if isinstance(m.content, str) else str(m.content)
        out.append({"role": role, "content": content})
    if not out:
        raise InputError("no messages to send to the model")
    return out


def final_message(text: str, prompt_tokens: int, completion_tokens: int, **meta: Any) -> AIMessage:
    """An assistant message carrying its usage and response metadata."""
    return AIMessage(content=text, usage_metadata=usage(prompt_tokens, completion_tokens), response_metadata=meta)


def usage_chunk(prompt_tokens: int, completion_tokens: int, **meta: Any) -> AIMessageChunk:
    """The empty closing chunk of a stream, carrying the whole call's usage."""
    return AIMessageChunk(content="", usage_metadata=usage(prompt_tokens, completion_tokens), response_metadata=meta)
