"""The ``chat`` graph: answer the user's turn from memory, then remember the turn."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agentrag.agents.constructor import remember_turn
from agentrag.deps import Deps
from agentrag.graphs import answer, ingest
from agentrag.retrying import MEMORY_RETRY
from agentrag.state import ChatState


def builder() -> StateGraph[ChatState, Deps, ChatState, ChatState]:
    """Answer first (memory as it was before this turn), then write the turn through the ingest graph."""
    g = StateGraph(ChatState, context_schema=Deps)
    g.add_node("answer", answer.builder().compile(name="answer"))
    g.add_node("remember_turn", remember_turn, retry_policy=MEMORY_RETRY)
    g.add_node("ingest", ingest.builder().compile(name="ingest"))
    g.add_edge(START, "answer")
    g.add_edge("answer", "remember_turn")
    g.add_edge("remember_turn", "ingest")
    g.add_edge("ingest", END)
    return g


def build(checkpointer: BaseCheckpointSaver[Any] | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the chat graph."""
    return builder().compile(checkpointer=checkpointer, name="chat")


graph = build()
