"""Pieces the baseline graphs share: their state, a fixed-route node and the options they take.

The baselines are the project's own nodes (``agentrag.agents.*``) wired
differently, so a difference in score comes from the wiring, not from a
different retriever or answer prompt. Where the full system's router would plan
the retrieval, a baseline starts from a fixed route instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from langgraph.runtime import Runtime

from agentrag.agents.retriever import RetrieveUpdate, retrieve
from agentrag.deps import Deps, deps_of
from agentrag.state import AnswerState
from agentrag.types import Level, Route, RouteKind

TokenCounter = Callable[[str], int]
MemoryKind = Literal["none", "raw", "derived"]
"""Which memory a method reads: nothing, raw items only, or raw + facts + episodes."""


def estimate_tokens(text: str) -> int:
    """A conservative token estimate (3 characters a token) where no tokenizer is at hand."""
    return len(text) // 3 + 1


@dataclass(frozen=True)
class MethodOptions:
    """Knobs of the baselines; recorded in the run's config."""

    iter_rounds: int = 2
    """Iter-RetGen's fixed number of retrieve-generate rounds."""
    window_tokens: int = 4096
    """full_context: the generator's context window."""
    reserve_tokens: int = 448
    """full_context: room left for the chat template and the answer."""
    count_tokens: TokenCounter = estimate_tokens


class MethodState(AnswerState, total=False):
    """The answer state plus what the baselines record about their own runs."""

    current: list[str]
    """Iter-RetGen: memory item ids retrieved in the latest round."""
    shown: list[str]
    """Evidence ids the final prompt showed (when a method shows a subset of its pool)."""
    truncation: dict[str, Any]
    """full_context: how much of memory fitted in the window."""


class PlanUpdate(TypedDict):
    """What a fixed route writes (the same keys as the router)."""

    route: Route
    queries: list[str]
    round: int
    max_rounds: int


Node = Callable[..., Any]
"""A LangGraph node function ``(state, runtime) -> update``; LangGraph's own node protocols are private."""


def fixed_route(kind: RouteKind, levels: tuple[Level, ...], reason: str, max_rounds: int | None = None) -> Node:
    """A node that plans the same retrieval for every question (no router call)."""

    def plan(state: MethodState, runtime: Runtime[Deps]) -> PlanUpdate:
        deps = deps_of(runtime)
        route = Route(kind=kind, levels=levels, queries=(state["question"],), reason=reason)
        rounds = max_rounds if max_rounds is not None else deps.settings.max_rounds
        return {"route": route, "queries": [state["question"]], "round": 0, "max_rounds": rounds}

    return plan


def plain_retrieve(state: AnswerState, runtime: Runtime[Deps]) -> RetrieveUpdate:
    """The project's retrieve node without agentrag's second-hop search for the focused read.

    The baselines read what their papers' retrieval shows (naive_rag: exactly the raw top-k);
    the hop passage is part of agentrag, and measured by ``agentrag_focus_rank``.
    """
    return retrieve(state, runtime, focus=0)
