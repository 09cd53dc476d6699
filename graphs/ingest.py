"""The ``ingest`` graph: Constructor -> Judge (duplicates, consistency) -> Refresher -> write."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agentrag.agents.constructor import (
    check_consistency,
    dedupe,
    extract_facts,
    refresh_memory,
    route_after_consistency,
    route_after_select,
    select_new,
    summarise,
    write,
)
from agentrag.deps import Deps
from agentrag.retrying import LLM_RETRY, MEMORY_RETRY
from agentrag.state import IngestInput, IngestOutput, IngestState


def builder() -> StateGraph[IngestState, Deps, IngestInput, IngestOutput]:
    """The uncompiled graph (the chat graph embeds it)."""
    g = StateGraph(IngestState, context_schema=Deps, input_schema=IngestInput, output_schema=IngestOutput)
    g.add_node("select_new", select_new, retry_policy=MEMORY_RETRY)
    g.add_node("extract_facts", extract_facts, retry_policy=LLM_RETRY)
    g.add_node("summarise", summarise, retry_policy=LLM_RETRY)
    g.add_node("dedupe", dedupe, retry_policy=LLM_RETRY)
    g.add_node("check_consistency", check_consistency, retry_policy=LLM_RETRY)
    g.add_node("refresh", refresh_memory, retry_policy=MEMORY_RETRY)
    g.add_node("write", write, retry_policy=MEMORY_RETRY)
    g.add_edge(START, "select_new")
    g.add_conditional_edges("select_new", route_after_select)
    g.add_edge("extract_facts", "dedupe")
    g.add_edge("dedupe", "summarise")
    g.add_edge("summarise", "check_consistency")
    g.add_conditional_edges("check_consistency", route_after_consistency)
    g.add_edge("refresh", "write")
    g.add_edge("write", END)
    return g


def build(checkpointer: BaseCheckpointSaver[Any] | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the ingest graph."""
    return builder().compile(checkpointer=checkpointer, name="ingest")


graph = build()
