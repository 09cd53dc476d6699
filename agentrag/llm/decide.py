"""Yes/no decisions read from token log-probabilities instead of a small model's argmax.

A 135M model asked "is this evidence sufficient?" says yes almost always; its
*probability* of "yes" still orders questions usefully, and a threshold fit on dev
data turns it into a decision (``Settings.decisions``). The prompt asks for a one
word reply; the backend returns the likeliest first tokens with their
log-probabilities, and P(yes) = mass(yes-like tokens) / mass(yes-like + no-like).

Fallback, stated once: a backend without log-probabilities (or a LangChain model
that is not one of ours) answers in words; "yes" counts as P=1, "no" as P=0, and a
reply that is neither is *unparsable* (P is None), which callers must never treat
as a positive decision.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict

from agentrag.errors import BackendError, BackendUnavailableError
from agentrag.llm.base import AgentChatModel
from agentrag.prompts import RenderedPrompt

log = logging.getLogger(__name__)

_YES = re.compile(r"^\W*(yes|true|y)\b", re.IGNORECASE)
_NO = re.compile(r"^\W*(no|false|n)\b", re.IGNORECASE)
MIN_MASS = 1e-4
"""Below this total probability of yes- and no-like tokens the model was about to say something else."""


class YesNo(BaseModel):
    """One decision: P("yes"), how it was obtained, and the reply text."""

    model_config = ConfigDict(frozen=True)

    p_yes: float | None
    source: Literal["logprobs", "text", "unparsable", "skipped"]
    """``skipped``: not asked, because the calibrated threshold cannot be reached (see ``agents.judge``)."""
    mass: float | None = None
    """Total probability of the yes- and no-like first tokens (logprobs only)."""
    text: str = ""

    def at_least(self, threshold: float) -> bool:
        """True only for a parsed decision whose P(yes) reaches ``threshold`` (unparsable is never true)."""
        return self.p_yes is not None and self.p_yes >= threshold

    def below(self, threshold: float) -> bool:
        """True only for a parsed decision whose P(yes) is under ``threshold`` (unparsable is never below)."""
        return self.p_yes is not None and self.p_yes < threshold


def p_yes_from(top: dict[str, float]) -> tuple[float | None, float]:
    """P(yes) and the yes+no mass from a first token's alternatives ``{token: logprob}``."""
    yes = no = 0.0
    for token, lp in top.items():
        word = token.strip().lower()
        if word in ("yes", "true", "y"):
            yes += math.exp(lp)
        elif word in ("no", "false", "n"):
            no += math.exp(lp)
    mass = yes + no
    return (yes / mass if mass >= MIN_MASS else None), mass


def from_text(text: str) -> YesNo:
    """The word fallback: yes -> 1, no -> 0, anything else unparsable."""
    if _YES.match(text):
        return YesNo(p_yes=1.0, source="text", text=text[:40])
    if _NO.match(text):
        return YesNo(p_yes=0.0, source="text", text=text[:40])
    return YesNo(p_yes=None, source="unparsable", text=text[:40])


def _request(llm: BaseChatModel, prompt: RenderedPrompt, top_logprobs: int) -> tuple[list[BaseMessage], dict[str, Any]]:
    messages: list[BaseMessage] = [SystemMessage(prompt.system), HumanMessage(prompt.user)]
    kwargs: dict[str, Any] = {}
    if isinstance(llm, AgentChatModel):
        kwargs["prompt_id"] = prompt.id
        kwargs["max_tokens"] = prompt.max_tokens or 2
        if llm.supports_logprobs:
            kwargs["top_logprobs"] = top_logprobs
    return messages, kwargs


def _failed(prompt: RenderedPrompt, exc: BackendError) -> YesNo:
    log.warning("decision %s failed; unparsable: %s", prompt.id, exc)
    return YesNo(p_yes=None, source="unparsable", text=str(exc)[:40])


def _read(llm: BaseChatModel, prompt: RenderedPrompt, reply: BaseMessage) -> YesNo:
    text = reply.content if isinstance(reply.content, str) else str(reply.content)
    top = reply.response_metadata.get("top_logprobs") if isinstance(llm, AgentChatModel) else None
    if top:
        p, mass = p_yes_from(top)
        if p is not None:
            return YesNo(p_yes=round(p, 4), source="logprobs", mass=round(mass, 4), text=text[:40])
        log.info("decision %s: no yes/no token among the likeliest (%s); reading the word", prompt.id, list(top)[:5])
    return from_text(text)


def ask_yes_no(llm: BaseChatModel, prompt: RenderedPrompt, *, top_logprobs: int = 20) -> YesNo:
    """Ask a yes/no prompt; P(yes) from log-probabilities where the backend has them, else the word."""
    messages, kwargs = _request(llm, prompt, top_logprobs)
    try:
        reply = llm.invoke(messages, **kwargs)
    except BackendUnavailableError:
        raise  # a dead or hung server: stop the run now, not after one more timeout per remaining decision
    except BackendError as exc:
        return _failed(prompt, exc)
    return _read(llm, prompt, reply)


async def aask_yes_no(llm: BaseChatModel, prompt: RenderedPrompt, *, top_logprobs: int = 20) -> YesNo:
    """Async ``ask_yes_no``."""
    messages, kwargs = _request(llm, prompt, top_logprobs)
    try:
        reply = await llm.ainvoke(messages, **kwargs)
    except BackendUnavailableError:
        raise  # a dead or hung server: stop the run now, not after one more timeout per remaining decision
    except BackendError as exc:
        return _failed(prompt, exc)
    return _read(llm, prompt, reply)
