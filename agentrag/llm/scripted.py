"""A deterministic chat model for unit tests: replies keyed by prompt id.

Keying on the prompt id (not on call order) keeps tests readable and stable
when a graph adds or reorders calls. A reply may be a string, a list of strings
(successive replies to the same prompt; the last repeats), or a function of the
rendered messages. Every call is recorded so tests can assert on what was asked.
A prompt id may also carry a probability (``probabilities``): a call asking for
``top_logprobs`` then gets ``{"yes": log p, "no": log(1 - p)}`` as the first token's
alternatives, the way a real backend reports them; a prompt without one gets no
log-probabilities, like a backend that has none.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
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
    supports_logprobs: ClassVar[bool] = True

    replies: dict[str, Reply] = Field(default_factory=dict)
    probabilities: dict[str, float | list[float]] = Field(default_factory=dict)
    """P("yes") per prompt id (a list: successive calls; the last repeats)."""
    hold: dict[str, str] = Field(default_factory=dict)
    """Prompt id -> gate file: the call creates ``<gate>.reached`` and waits until the gate exists
    (so a test can catch another process in the middle of that call, e.g. to kill it)."""
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
        if pid in self.hold:
            _wait_for(Path(self.hold[pid]))
        reply = self.replies[pid]
        if callable(reply):
            return reply(messages)
        if isinstance(reply, list):
            return reply[min(n, len(reply) - 1)]
        return reply

    def _probability(self, prompt_id: str | None) -> float | None:
        p = self.probabilities.get(prompt_id or "")
        if isinstance(p, list):
            n = self._seen.get(prompt_id or "", 1) - 1
            return p[min(n, len(p) - 1)] if p else None
        return p

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
        meta: dict[str, Any] = {}
        p = self._probability(prompt_id)
        if kwargs.get("top_logprobs") and p is not None:
            meta["top_logprobs"] = {"yes": _log(p), "no": _log(1.0 - p)}
        msg = final_message(text, _words(messages), len(text.split()), model_name="scripted", **meta)
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


def _wait_for(gate: Path) -> None:
    """Say the call arrived, then wait for the test to open the gate (no timeout: the test owns the process)."""
    gate.with_name(gate.name + ".reached").touch()
    while not gate.exists():
        time.sleep(0.05)


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -1e9


def _words(messages: Sequence[BaseMessage]) -> int:
    return sum(len(str(m.content).split()) for m in messages)
