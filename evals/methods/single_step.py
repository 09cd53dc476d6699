"""One-shot methods: closed book, single-step RAG over raw items, and facts-only memory (mem0-like).

``naive_rag`` and ``facts_only`` are the project's ``retrieve`` (without agentrag's
second hop) and ``answer`` nodes on a fixed route; they differ only in the memory level searched.
``closed_book`` answers with no passages through its own prompt file, because
the answerer's prompt tells the model to rely on the passages alone.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agentrag.agents.answerer import ABSTAIN_TEXT, AnswerUpdate, CitedAnswer, answer, is_abstention
from agentrag.deps import Deps, deps_of
from agentrag.llm.structured import structured
from agentrag.types import Level, Route
from evals.methods.common import MethodOptions, MethodState, fixed_route, plain_retrieve


class ClosedBookUpdate(AnswerUpdate):
    """The answer plus the route taken (none)."""

    route: Route


def closed_book_answer(state: MethodState, runtime: Runtime[Deps]) -> ClosedBookUpdate:
    """Answer from the generator's own knowledge."""
    deps = deps_of(runtime)
    prompt = deps.prompts.render("baselines/closed_book", question=state["question"])
    text = structured(deps.llm, prompt, CitedAnswer, prompts=deps.prompts).answer.strip()
    abstained = is_abstention(text)
    return {
        "answer": text or ABSTAIN_TEXT, "abstained": abstained, "citations": [], "stop_reason": "closed book",
        "route": Route(kind="none", levels=(), reason="closed book"),
    }


def build_closed_book(options: MethodOptions) -> CompiledStateGraph[Any, Any, Any, Any]:
    """question -> answer, no memory."""
    g = StateGraph(MethodState, context_schema=Deps)
    g.add_node("answer", closed_book_answer)
    g.add_edge(START, "answer")
    g.add_edge("answer", END)
    return g.compile(name="closed_book")


def _one_step(name: str, levels: tuple[Level, ...]) -> CompiledStateGraph[Any, Any, Any, Any]:
    g = StateGraph(MethodState, context_schema=Deps)
    g.add_node("plan", fixed_route("single", levels, f"{name}: one search over {'+'.join(levels)}", max_rounds=1))
    g.add_node("retrieve", plain_retrieve)
    g.add_node("answer", answer)
    g.add_edge(START, "plan")
    g.add_edge("plan", "retrieve")
    g.add_edge("retrieve", "answer")
    g.add_edge("answer", END)
    return g.compile(name=name)


def build_naive_rag(options: MethodOptions) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Top-k raw items, one step, then the cited answer."""
    return _one_step("naive_rag", ("raw",))


def build_facts_only(options: MethodOptions) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Top-k extracted facts, one step, then the cited answer (the mem0 pattern)."""
    return _one_step("facts_only", ("fact",))
