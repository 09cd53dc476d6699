"""The methods an evaluation compares, all on the same generator, embedder and memory store.

Each method is a LangGraph graph over ``AnswerState`` built from the project's
own nodes; ``agentrag`` is the shipped answer graph itself. ``memory`` says which
memory a method reads, so the runner builds each kind once per sample and
shares it between the methods that need it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from agentrag.errors import ConfigError
from evals.methods.common import MemoryKind, MethodOptions, MethodState, TokenCounter, estimate_tokens
from evals.methods.full_context import build_full_context
from evals.methods.iterative import build_adaptive_note, build_iter_retgen
from evals.methods.single_step import build_closed_book, build_facts_only, build_naive_rag

Graph = CompiledStateGraph[Any, Any, Any, Any]


def build_agentrag(options: MethodOptions) -> Graph:
    """The full system: router, three memory levels, Judge, Refresher, notes, evidence revision."""
    from agentrag.graphs import answer

    return answer.build()


@dataclass(frozen=True)
class MethodSpec:
    """A method's name, the memory it reads, and how to build its graph."""

    name: str
    memory: MemoryKind
    build: Callable[[MethodOptions], Graph]
    retrieves: bool
    """Whether ``hits`` are a ranked retrieval (recall@k is meaningful) or a dump of memory."""
    summary: str


METHODS: dict[str, MethodSpec] = {
    m.name: m
    for m in (
        MethodSpec("closed_book", "none", build_closed_book, False, "no retrieval; the model's own knowledge"),
        MethodSpec("full_context", "raw", build_full_context, False,
                   "all raw items in the prompt, oldest dropped to fit the window"),
        MethodSpec("naive_rag", "raw", build_naive_rag, True, "top-k raw items, one step"),
        MethodSpec("iter_retgen", "raw", build_iter_retgen, True,
                   "retrieve with question + last answer, generate; fixed rounds"),
        MethodSpec("adaptive_note", "raw", build_adaptive_note, True, "the notes loop over raw items, no Judge"),
        MethodSpec("facts_only", "derived", build_facts_only, True, "top-k extracted facts, one step (mem0-like)"),
        MethodSpec("agentrag", "derived", build_agentrag, True,
                   "router, raw+facts+episodes, Judge, Refresher, notes, evidence revision"),
    )
}
"""In the order they run: ``agentrag`` last, because its Refresher may supersede facts that
``facts_only`` reads from the same memory."""


def get_methods(names: str | list[str] | tuple[str, ...]) -> list[MethodSpec]:
    """Specs for comma-separated or listed names, in the canonical order; ``all`` means every one."""
    wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    if wanted == ["all"]:
        return list(METHODS.values())
    unknown = [n for n in wanted if n not in METHODS]
    if unknown or not wanted:
        raise ConfigError.invalid_choice("method", ",".join(unknown) or "(none)", [*METHODS, "all"])
    return [m for m in METHODS.values() if m.name in wanted]


__all__ = [
    "METHODS", "MemoryKind", "MethodOptions", "MethodSpec", "MethodState", "TokenCounter", "estimate_tokens",
    "get_methods",
]
