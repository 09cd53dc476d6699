"""The ``answer`` graph: route -> retrieve -> judge -> (refresh | revise | note <-> retrieve) -> answer.

Wiring only; the agents live in ``agentrag.agents``. Every loop is capped by
counters in the state (``max_rounds`` and the notes' stop rules), not only by
LangGraph's recursion limit. The Judge looks once; when it is not confident the
evidence is sufficient the question escalates into the notes loop, whose rounds
go retrieve -> note without the Judge, exactly as the ``adaptive_note`` baseline.

Nodes that call the generator or memory retry transient failures a bounded number
of times (``agentrag.retrying``); the Judge, note and answer nodes also have an async
body (``agentrag.agents.steps``), so ``ainvoke``/``astream`` never hold a thread per call.

``Parts`` switches single parts off for the ablation methods in ``evals/``; the
default is the shipped graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agentrag.agents.answerer import answer_steps
from agentrag.agents.evidence import revise_evidence
from agentrag.agents.judge import (
    judge_node,
    judge_node_no_revision,
    next_step,
    route_after_judge,
    route_after_judge_no_notes,
    route_after_retrieve,
)
from agentrag.agents.notes import route_after_note, take_note_node
from agentrag.agents.refresher import refresh
from agentrag.agents.retriever import RetrieveUpdate, retrieve
from agentrag.agents.router import route, route_after_plan
from agentrag.agents.steps import node
from agentrag.deps import Deps, deps_of
from agentrag.retrying import LLM_RETRY, MEMORY_RETRY
from agentrag.state import AnswerInput, AnswerOutput, AnswerState
from agentrag.types import EvidenceOrder, FocusPick, FocusUse


@dataclass(frozen=True)
class Parts:
    """Which parts of the answer graph run (by default all, the notes loop as ``Settings.notes.enabled`` says)."""

    judge: bool = True
    notes: bool | None = None
    """The notes loop: None follows ``Settings.notes.enabled`` (off by default), True/False force it."""
    revision: bool = True
    derived: bool | None = None
    """Facts/episodes in the evidence: None follows ``Settings.evidence.derived_levels``."""
    planner: Any = None
    """A node replacing the router (the fixed-route ablation); None: the router."""
    order: EvidenceOrder | None = None
    """The answer prompt's passage order: None follows ``Settings.evidence.order``."""
    focus: int | None = None
    """A focused first read of naive retrieval's top N passages: None follows ``Settings.evidence.focus``, 0 is off."""
    focus_use: FocusUse | None = None
    """What the focused read's answer does ("answer" or "note"): None follows ``Settings.evidence.focus_use``."""
    focus_pick: FocusPick | None = None
    """Which passages the focused read sees ("hop" or "rank"): None follows ``Settings.evidence.focus_pick``."""
    echo_retry: bool | None = None
    """The Judge's answer check (an answer that only repeats the question is asked again): None follows
    ``Settings.decisions.echo_retry``; off whenever ``judge`` is."""


def _retrieve(parts: Parts) -> Any:
    if parts.derived is None and parts.focus is None and parts.focus_pick is None:
        return retrieve

    def retrieve_node(state: AnswerState, runtime: Runtime[Deps]) -> RetrieveUpdate:
        return retrieve(state, runtime, derived=parts.derived, focus=parts.focus, focus_pick=parts.focus_pick)

    return retrieve_node


def notes_on(parts: Parts, runtime: Runtime[Deps]) -> bool:
    """Whether an escalated question may enter the notes loop in this run."""
    return parts.notes if parts.notes is not None else deps_of(runtime).settings.notes.enabled


def _after_judge(parts: Parts) -> Any:
    def after_judge(state: AnswerState, runtime: Runtime[Deps]) -> str:
        return route_after_judge(state) if notes_on(parts, runtime) else route_after_judge_no_notes(state)

    return after_judge


def _after_revise(parts: Parts) -> Any:
    def after_revise(state: AnswerState, runtime: Runtime[Deps]) -> str:
        return next_step(state) if notes_on(parts, runtime) else "answer"

    return after_revise


def _after_retrieve_no_judge(parts: Parts) -> Any:
    def after_retrieve(state: AnswerState, runtime: Runtime[Deps]) -> str:
        return "note" if notes_on(parts, runtime) and state["route"].kind == "iterative" else "answer"

    return after_retrieve


def _answer(parts: Parts) -> Any:
    check_echo = parts.echo_retry if parts.judge else False
    return node(
        partial(answer_steps, order=parts.order, check_echo=check_echo, focus=parts.focus, focus_use=parts.focus_use),
        name="answer",
    )


def _judge(parts: Parts) -> Any:
    return judge_node if parts.revision else judge_node_no_revision


def builder(parts: Parts = Parts()) -> StateGraph[AnswerState, Deps, AnswerInput, AnswerOutput]:
    """The uncompiled graph (the chat graph embeds it)."""
    g = StateGraph(AnswerState, context_schema=Deps, input_schema=AnswerInput, output_schema=AnswerOutput)
    g.add_node("route", parts.planner or route, retry_policy=LLM_RETRY)
    g.add_node("retrieve", _retrieve(parts), retry_policy=MEMORY_RETRY)
    g.add_node("answer", _answer(parts), retry_policy=LLM_RETRY)
    g.add_edge(START, "route")
    g.add_conditional_edges("route", route_after_plan)
    g.add_edge("answer", END)
    with_notes = parts.notes is not False  # the node exists; whether a run enters it may be a setting
    if with_notes:
        g.add_node("note", take_note_node, retry_policy=LLM_RETRY)
        g.add_conditional_edges("note", route_after_note)
    if not parts.judge:  # the route alone decides: iterative -> notes loop, else answer
        g.add_conditional_edges("retrieve", _after_retrieve_no_judge(parts), ["note", "answer"] if with_notes
                                else ["answer"])
        return g
    g.add_node("judge", _judge(parts), retry_policy=LLM_RETRY)
    g.add_node("refresh", refresh, retry_policy=MEMORY_RETRY)
    g.add_node("revise", revise_evidence)
    g.add_edge("refresh", "revise")
    if with_notes:
        g.add_conditional_edges("retrieve", route_after_retrieve)
        g.add_conditional_edges("judge", _after_judge(parts), ["refresh", "revise", "note", "answer"])
        g.add_conditional_edges("revise", _after_revise(parts), ["note", "answer"])
    else:
        g.add_edge("retrieve", "judge")
        g.add_conditional_edges("judge", route_after_judge_no_notes)
        g.add_edge("revise", "answer")
    return g


def build(
    checkpointer: BaseCheckpointSaver[Any] | None = None, parts: Parts = Parts(), name: str = "answer"
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the answer graph, optionally with a checkpointer (resumable by thread id)."""
    return builder(parts).compile(checkpointer=checkpointer, name=name)


graph = build()
