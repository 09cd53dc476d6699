"""The ``answer`` graph: route -> retrieve -> judge -> (refresh | revise | note | retrieve) -> answer.

Wiring only; the agents live in ``agentrag.agents``. Every loop is capped by
counters in the state (``max_rounds`` and the notes' stop rules), not only by
LangGraph's recursion limit.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agentrag.agents.answerer import answer
from agentrag.agents.evidence import revise_evidence
from agentrag.agents.judge import judge, next_step, route_after_judge
from agentrag.agents.notes import route_after_note, take_note
from agentrag.agents.refresher import refresh
from agentrag.agents.retriever import retrieve
from agentrag.agents.router import route, route_after_plan
from agentrag.deps import Deps
from agentrag.state import AnswerInput, AnswerOutput, AnswerState


def builder() -> StateGraph[AnswerState, Deps, AnswerInput, AnswerOutput]:
    """The uncompiled graph (the chat graph embeds it)."""
    g = StateGraph(AnswerState, context_schema=Deps, input_schema=AnswerInput, output_schema=AnswerOutput)
    g.add_node("route", route)
    g.add_node("retrieve", retrieve)
    g.add_node("judge", judge)
    g.add_node("refresh", refresh)
    g.add_node("revise", revise_evidence)
    g.add_node("note", take_note)
    g.add_node("answer", answer)
    g.add_edge(START, "route")
    g.add_conditional_edges("route", route_after_plan)
    g.add_edge("retrieve", "judge")
    g.add_conditional_edges("judge", route_after_judge)
    g.add_edge("refresh", "revise")
    g.add_conditional_edges("revise", next_step)
    g.add_conditional_edges("note", route_after_note)
    g.add_edge("answer", END)
    return g


def build(checkpointer: BaseCheckpointSaver[Any] | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the answer graph, optionally with a checkpointer (resumable by thread id)."""
    return builder().compile(checkpointer=checkpointer, name="answer")


graph = build()
