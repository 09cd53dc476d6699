"""A deterministic chat model for unit tests: replies keyed by prompt id.

Keying on the prompt id (not on call order) keeps tests readable and stable
when a graph adds or reorders calls. A reply may be a string, a list of strings
(successive replies to the same prompt; the last repeats), or a function of the
rendered messages. Every call is recorded so tests can assert on what was asked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from agentrag.errors import AgentRagError
from agentrag.llm.base import AgentChatModel, final_message, usage_chunk

Reply = str | list[str] | Callable[[list[BaseMessage]], str]


@dataclass(frozen=True)
class ScriptedCall:
    """One recorded call."""

    prompt_id: str
    messages: tuple[BaseMessage, ...]
    json_schema: dict[str, Any] | None


class ScriptedChatModel(AgentChatModel):
    """Replies from a script keyed by prompt id; records calls; counts tokens by words."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    supports_json_schema: ClassVar[bool] = True
    serial: ClassVar[bool] = True

    replies: dict[str, Reply] = Field(default_factory=dict)
    _calls: list[ScriptedCall] = PrivateAttr(default_factory=list)
    _seen: dict[str, int] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "agentrag-scripted"

    @property
    def calls(self) -> list[ScriptedCall]:
        """Calls made so far, oldest first."""
        return list(self._calls)

    def calls_for(self, prompt_id: str) -> list[ScriptedCall]:
        """Calls made with one prompt id."""
        return [c for c in self._calls if c.prompt_id == prompt_id]

    def _reply(self, messages: list[BaseMessage], prompt_id: str | None, schema: dict[str, Any] | None) -> str:
        pid = prompt_id or "<no prompt id>"
        with self._lock:
            self._calls.append(ScriptedCall(pid, tuple(messages), schema))
            n = self._seen.get(pid, 0)
            self._seen[pid] = n + 1
        if pid not in self.replies:
            known = ", ".join(sorted(self.replies)) or "none"
            raise AgentRagError(f"scripted model has no reply for prompt {pid!r}; scripted prompts: {known}")
        reply = self.replies[pid]
        if callable(reply):
            return reply(messages)
        if isinstance(reply, list):
            return reply[min(n, len(reply) - 1)]
        return reply

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        *,
        prompt_id: str | None = None,
        json_schema: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self._reply(messages, prompt_id, json_schema)
        msg = final_message(text, _words(messages), len(text.split()), model_name="scripted")
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        *,
        prompt_id: str | None = None,
        json_schema: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        text = self._reply(messages, prompt_id, json_schema)
        pieces = [p + " " for p in text.split(" ")]
        pieces[-1] = pieces[-1][:-1]
        for piece in pieces:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(message=usage_chunk(_words(messages), len(pieces), model_name="scripted"))


def _words(messages: Sequence[BaseMessage]) -> int:
    return sum(len(str(m.content).split()) for m in messages)
