"""The ``answer`` graph: retrieve from memory, then answer with citations."""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agentrag.agents.answerer import answer
from agentrag.agents.retriever import retrieve
from agentrag.deps import Deps
from agentrag.state import AnswerInput, AnswerOutput, AnswerState


def build(checkpointer: BaseCheckpointSaver[str] | None = None) -> CompiledStateGraph[AnswerState, Deps, AnswerInput, AnswerOutput]:
    """Compile the answer graph, optionally with a checkpointer (resumable by thread id)."""
    g = StateGraph(AnswerState, context_schema=Deps, input_schema=AnswerInput, output_schema=AnswerOutput)
    g.add_node("retrieve", retrieve)
    g.add_node("answer", answer)
    g.add_edge(START, "retrieve")
    g.add_edge("retrieve", "answer")
    g.add_edge("answer", END)
    return g.compile(checkpointer=checkpointer, name="answer")


graph = build()
