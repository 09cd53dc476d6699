"""Iterative baselines: Iter-RetGen and Adaptive-Note alone, both over raw items only.

Iter-RetGen (Shao et al. 2023) alternates a fixed number of times: retrieve with
the question plus the previous round's answer, then generate from that round's
passages. ``adaptive_note`` is the project's note loop (``agents.notes``) with
its stop rules, without the router, the Judge, the Refresher or facts and
episodes: the part of agentrag that Adaptive-Note contributes, on its own.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, cast

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agentrag.agents.answerer import AnswerUpdate, answer
from agentrag.agents.notes import route_after_note, take_note
from agentrag.agents.retriever import RetrieveUpdate
from agentrag.deps import Deps
from agentrag.state import AnswerState
from evals.methods.common import MethodOptions, MethodState, fixed_route, plain_retrieve


class RoundUpdate(RetrieveUpdate):
    """``retrieve``'s update plus the ids this round found."""

    current: list[str]


def retrieve_round(state: MethodState, runtime: Runtime[Deps]) -> RoundUpdate:
    """The project's retrieve node (no second hop), remembering which items this round returned."""
    update = plain_retrieve(state, runtime)
    return {**update, "current": [h.item.id for h in update["hits"]]}


class GenerateUpdate(AnswerUpdate):
    """The answer plus the evidence ids it was generated from."""

    shown: list[str]


def generate(state: MethodState, runtime: Runtime[Deps]) -> GenerateUpdate:
    """The project's answer node, shown only this round's passages (in rank order)."""
    order = {item_id: n for n, item_id in enumerate(state.get("current", []))}
    evidence = sorted(
        (e for e in state.get("evidence", []) if e.item_id in order), key=lambda e: order[e.item_id or ""]
    )
    update = answer(cast(AnswerState, {**state, "evidence": evidence}), runtime)
    rounds = f"iter-retgen: round {state.get('round', 0)} of {state.get('max_rounds', 0)}"
    return {**update, "stop_reason": rounds, "shown": [e.id for e in evidence]}


class RequeryUpdate(TypedDict):
    """The next round's query."""

    queries: list[str]


def requery(state: MethodState) -> RequeryUpdate:
    """Next query: the question plus the answer so far (the question alone after an abstention)."""
    q = state["question"]
    return {"queries": [q if state.get("abstained") else f"{q} {state.get('answer', '')}".strip()]}


def route_after_generate(state: MethodState) -> Literal["requery", "__end__"]:
    """Another round until the fixed count is reached."""
    return "requery" if state.get("round", 0) < state.get("max_rounds", 1) else "__end__"


def build_iter_retgen(options: MethodOptions) -> CompiledStateGraph[Any, Any, Any, Any]:
    """plan -> (retrieve -> generate) x N."""
    g = StateGraph(MethodState, context_schema=Deps)
    g.add_node("plan", fixed_route("single", ("raw",), "iter-retgen", max_rounds=options.iter_rounds))
    g.add_node("retrieve", retrieve_round)
    g.add_node("generate", generate)
    g.add_node("requery", requery)
    g.add_edge(START, "plan")
    g.add_edge("plan", "retrieve")
    g.add_edge("retrieve", "generate")
    g.add_conditional_edges("generate", route_after_generate, {"requery": "requery", "__end__": END})
    g.add_edge("requery", "retrieve")
    return g.compile(name="iter_retgen")


def build_adaptive_note(options: MethodOptions) -> CompiledStateGraph[Any, Any, Any, Any]:
    """plan -> retrieve -> note -> (retrieve | answer), raw items only, no Judge."""
    g = StateGraph(MethodState, context_schema=Deps)
    g.add_node("plan", fixed_route("iterative", ("raw",), "adaptive-note over raw items"))
    g.add_node("retrieve", plain_retrieve)
    g.add_node("note", take_note)
    g.add_node("answer", answer)
    g.add_edge(START, "plan")
    g.add_edge("plan", "retrieve")
    g.add_edge("retrieve", "note")
    g.add_conditional_edges("note", route_after_note)
    g.add_edge("answer", END)
    return g.compile(name="adaptive_note")
