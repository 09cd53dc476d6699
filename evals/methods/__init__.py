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
from evals.methods.ablations import (
    build_derived,
    build_echo_retry,
    build_fixed_single,
    build_floor_first,
    build_floor_last,
    build_focus,
    build_focus_rank,
    build_no_focus,
    build_no_judge,
    build_no_revision,
    build_notes,
)
from evals.methods.common import MemoryKind, MethodOptions, MethodState, TokenCounter, estimate_tokens
from evals.methods.full_context import build_full_context
from evals.methods.gold_context import build_gold_context
from evals.methods.iterative import build_adaptive_note, build_iter_retgen
from evals.methods.single_step import build_closed_book, build_facts_only, build_naive_rag

Graph = CompiledStateGraph[Any, Any, Any, Any]


def build_agentrag(options: MethodOptions) -> Graph:
    """The shipped answer graph with its default settings (derived levels follow ``evidence.derived_levels``)."""
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
    diagnostic: bool = False
    """Not a method anyone would ship (``gold_context`` reads the answer key): run only when named, never in ``all``."""


METHODS: dict[str, MethodSpec] = {
    m.name: m
    for m in (
        MethodSpec("closed_book", "none", build_closed_book, False, "no retrieval; the model's own knowledge"),
        MethodSpec("full_context", "raw", build_full_context, False,
                   "all raw items in the prompt, oldest dropped to fit the window"),
        MethodSpec("naive_rag", "raw", build_naive_rag, True, "top-k raw items, one step"),
        MethodSpec("gold_context", "raw", build_gold_context, False,
                   "diagnostic, not a baseline: exactly the gold evidence (the ceiling of any retrieval)", True),
        MethodSpec("iter_retgen", "raw", build_iter_retgen, True,
                   "retrieve with question + last answer, generate; fixed rounds"),
        MethodSpec("adaptive_note", "raw", build_adaptive_note, True, "the notes loop over raw items, no Judge"),
        MethodSpec("facts_only", "derived", build_facts_only, True, "top-k extracted facts, one step (mem0-like)"),
        MethodSpec("agentrag", "raw", build_agentrag, True,
                   "router, raw top-k floor + additions, calibrated Judge, escalation to notes, revision"),
        MethodSpec("agentrag_fixed_route", "raw", build_fixed_single, True, "ablation: fixed single route"),
        MethodSpec("agentrag_no_judge", "raw", build_no_judge, True, "ablation: no Judge (route decides)"),
        MethodSpec("agentrag_notes", "raw", build_notes, True, "ablation: notes loop on (off by default)"),
        MethodSpec("agentrag_no_revision", "raw", build_no_revision, True, "ablation: no conflict checks"),
        MethodSpec("agentrag_floor_last", "raw", build_floor_last, True,
                   "variant: additions first in the answer prompt, raw top-k last (next to the question)"),
        MethodSpec("agentrag_floor_first", "raw", build_floor_first, True,
                   "ablation: the previous prompt order (raw top-k first; the focused read's passages not last)"),
        MethodSpec("agentrag_echo_retry", "raw", build_echo_retry, True,
                   "variant: the Judge's answer check on (an answer repeating only the question is asked again)"),
        MethodSpec("agentrag_no_focus", "raw", build_no_focus, True,
                   "ablation: no focused first read (one answer call over all the evidence)"),
        MethodSpec("agentrag_focus_rank", "raw", build_focus_rank, True,
                   "ablation: the focused read sees naive retrieval's top 3 (no second-hop search)"),
        MethodSpec("agentrag_focus_answer", "raw", build_focus, True,
                   "variant: the focused read's answer is the answer (all the evidence only when it is no answer)"),
        MethodSpec("agentrag_derived", "derived", build_derived, True,
                   "ablation: facts + episodes (with sources) added to the evidence"),
    )
}
"""In the order they run: the derived-memory readers last, because a Refresher may supersede
facts that ``facts_only`` reads from the same memory. ``agentrag`` reads raw memory because
``evidence.derived_levels`` is off by default (derived levels have not paid for themselves on
dev data yet); ``agentrag_derived`` measures them."""

CORE = ("naive_rag", "adaptive_note", "agentrag")
"""The comparison the issue is about: run these first when time is short."""


def get_methods(names: str | list[str] | tuple[str, ...]) -> list[MethodSpec]:
    """Specs for comma-separated or listed names, in the canonical order; ``all`` means every non-diagnostic one."""
    wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    if wanted == ["all"]:
        return [m for m in METHODS.values() if not m.diagnostic]
    unknown = [n for n in wanted if n not in METHODS]
    if unknown or not wanted:
        raise ConfigError.invalid_choice("method", ",".join(unknown) or "(none)", [*METHODS, "all"])
    return [m for m in METHODS.values() if m.name in wanted]


__all__ = [
    "METHODS", "MemoryKind", "MethodOptions", "MethodSpec", "MethodState", "TokenCounter", "estimate_tokens",
    "get_methods",
]
