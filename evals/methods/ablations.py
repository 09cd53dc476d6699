"""agentrag with one part switched off each, so a report shows what every part adds.

Each is the shipped answer graph (``graphs/answer.py``) built with one ``Parts``
flag changed; everything else (generator, memory, retriever, answer prompt,
settings) is the same as ``agentrag``'s.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from agentrag.types import LEVELS
from evals.methods.common import MethodOptions, fixed_route

Graph = CompiledStateGraph[Any, Any, Any, Any]


def _build(name: str, **parts: Any) -> Graph:
    from agentrag.graphs.answer import Parts, build

    return build(parts=Parts(**parts), name=name)


def build_fixed_single(options: MethodOptions) -> Graph:
    """The router replaced by a fixed one-step route over every level (escalation still applies)."""
    plan = fixed_route("single", LEVELS, "ablation: fixed single route, no router")
    return _build("agentrag_fixed_route", planner=plan)


def build_no_judge(options: MethodOptions) -> Graph:
    """No Judge: the route alone decides (iterative -> notes loop, else answer); no escalation or abstention."""
    return _build("agentrag_no_judge", judge=False)


def build_notes(options: MethodOptions) -> Graph:
    """The notes loop on (``notes.enabled`` is off by default): an escalated question enters it."""
    return _build("agentrag_notes", notes=True)


def build_no_revision(options: MethodOptions) -> Graph:
    """No evidence revision or memory refresh: the Judge does not look for conflicts."""
    return _build("agentrag_no_revision", revision=False)


def build_derived(options: MethodOptions) -> Graph:
    """Derived levels on: facts and episodes (with their raw sources) added to the evidence."""
    return _build("agentrag_derived", derived=True)


def build_floor_last(options: MethodOptions) -> Graph:
    """Additions first and naive retrieval's raw top-k last, next to the question (``evidence.order: floor_last``)."""
    return _build("agentrag_floor_last", order="floor_last")


def build_floor_first(options: MethodOptions) -> Graph:
    """The previous answer prompt order: the raw top-k first, additions after it (``evidence.order: floor_first``)."""
    return _build("agentrag_floor_first", order="floor_first")


def build_echo_retry(options: MethodOptions) -> Graph:
    """The Judge's answer check forced on: an answer that only repeats the question's names is asked again."""
    return _build("agentrag_echo_retry", echo_retry=True)


def build_focus(options: MethodOptions) -> Graph:
    """The focused read's answer is the answer (``focus_use: answer``); all the evidence only when it is no answer."""
    return _build("agentrag_focus_answer", focus_use="answer")


def build_no_focus(options: MethodOptions) -> Graph:
    """No focused first read (``evidence.focus: null``): one answer call over all the evidence."""
    return _build("agentrag_no_focus", focus=0)


def build_focus_rank(options: MethodOptions) -> Graph:
    """The focused read sees naive retrieval's top N (``evidence.focus_pick: rank``), no second-hop search."""
    return _build("agentrag_focus_rank", focus_pick="rank")
