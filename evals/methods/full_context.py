"""full_context: every raw item of the namespace in the answer prompt, cut to the model's window.

The prompt is the answerer's own (numbered passages), so the only difference
from ``naive_rag`` is what is shown: everything, in time order, instead of the
top k. What does not fit is dropped from the oldest end (the most recent turns
are kept, as in LoCoMo's full-context baseline), and the cut is recorded.

The window is the generator's whole context (SmolLM2-135M was trained on
8,192 tokens; the local backend's default ``n_ctx`` is that), less the
answer's own token budget (the answer prompt's ``max_tokens``, the same for
every method) and a margin for the chat template.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agentrag.agents.answerer import answer
from agentrag.agents.evidence import add_hits, numbered
from agentrag.deps import Deps, deps_of
from agentrag.memory.store import MemoryStore
from agentrag.types import Evidence, Hit, MemoryItem, Route
from evals.methods.common import MethodOptions, MethodState, Node

_EARLIEST = datetime.min.replace(tzinfo=UTC)
TEMPLATE_MARGIN = 64
"""Tokens kept free for the chat template's role markers beyond what the counter sees."""


def natural_key(text: str) -> tuple[Any, ...]:
    """``"D3:12"`` sorts after ``"D3:2"``."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def all_raw(memory: MemoryStore, namespace: str) -> list[MemoryItem]:
    """Every current raw item, in time order (insertion order where there are no times)."""
    n = memory.count(namespace, "raw")
    items = memory.list(namespace, "raw", limit=max(n, 1)) if n else []
    return sorted(items, key=lambda i: (i.event_time or _EARLIEST, natural_key(i.source_id) if i.event_time else ()))


class ContextUpdate(TypedDict):
    """What ``load_context`` writes."""

    route: Route
    hits: list[Hit]
    evidence: list[Evidence]
    truncation: dict[str, Any]
    round: int
    max_rounds: int


def load_context(options: MethodOptions) -> Node:
    """A node that fills the evidence pool with the newest raw items that fit the window."""

    def node(state: MethodState, runtime: Runtime[Deps]) -> ContextUpdate:
        deps = deps_of(runtime)
        items = all_raw(deps.memory, state["namespace"])
        hits = [Hit(item=i, score=0.0, rank=n) for n, i in enumerate(items, 1)]
        answer_tokens = answer_budget(deps, options)
        budget = options.window_tokens - answer_tokens - TEMPLATE_MARGIN

        def cost(start: int) -> int:
            kept = hits[start:]
            passages = numbered(add_hits([], kept), {h.item.id: h.item for h in kept})
            prompt = deps.prompts.render("answerer/cited", question=state["question"], passages=passages, note="")
            return options.count_tokens(prompt.system + "\n" + prompt.user)

        lo, hi = 0, len(hits)  # smallest start whose suffix fits; cost falls as start grows
        while lo < hi:
            mid = (lo + hi) // 2
            if cost(mid) <= budget:
                hi = mid
            else:
                lo = mid + 1
        kept = hits[lo:]
        truncation = {
            "items_total": len(hits), "items_kept": len(kept), "truncated": lo > 0,
            "prompt_tokens_est": cost(lo) if hits else 0, "window_tokens": options.window_tokens,
            "answer_tokens": answer_tokens,
        }
        return {
            "route": Route(kind="single", levels=("raw",), reason="full context"), "hits": kept,
            "evidence": add_hits([], kept), "truncation": truncation, "round": 1, "max_rounds": 1,
        }

    return node


def answer_budget(deps: Deps, options: MethodOptions) -> int:
    """The answer's token budget: the answer prompt's ``max_tokens`` (what every method's answer
    gets), else what the runner reserved less the template margin."""
    declared = deps.prompts.render("answerer/cited", question="", passages=[], note="").max_tokens
    return declared if declared is not None else max(0, options.reserve_tokens - TEMPLATE_MARGIN)


def build_full_context(options: MethodOptions) -> CompiledStateGraph[Any, Any, Any, Any]:
    """load everything that fits -> answer."""
    g = StateGraph(MethodState, context_schema=Deps)
    g.add_node("load_context", load_context(options))
    g.add_node("answer", answer)
    g.add_edge(START, "load_context")
    g.add_edge("load_context", "answer")
    g.add_edge("answer", END)
    return g.compile(name="full_context")
