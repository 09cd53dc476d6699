"""The Retriever: turns the question (and later, sub-queries) into hits from memory."""

from __future__ import annotations

import logging
from typing import TypedDict

from langgraph.runtime import Runtime

from agentrag.agents.evidence import add_hits
from agentrag.deps import Deps, deps_of
from agentrag.memory.store import SearchFilters
from agentrag.state import AnswerState
from agentrag.types import Evidence, Hit, Route

log = logging.getLogger(__name__)

MIN_DENSE_SIM = 0.2
"""Hits found only by dense search below this cosine similarity are noise, not evidence."""


def related(hit: Hit) -> bool:
    """Keep lexical matches, and dense matches that are at least loosely related."""
    if hit.sparse_score:
        return True
    return hit.dense_score is None or hit.dense_score >= MIN_DENSE_SIM


class RetrieveUpdate(TypedDict):
    """What ``retrieve`` writes."""

    hits: list[Hit]
    evidence: list[Evidence]
    asked: list[str]
    round: int


def retrieve(state: AnswerState, runtime: Runtime[Deps]) -> RetrieveUpdate:
    """Search memory for each pending query and add unseen items to the evidence pool."""
    deps = deps_of(runtime)
    route = state.get("route") or Route()
    asked = list(state.get("asked", []))
    queries = [q for q in (state.get("queries") or [state["question"]]) if q not in asked] or [state["question"]]
    filters = SearchFilters(levels=route.levels)
    hits: list[Hit] = []
    for query in queries:
        found = deps.memory.search(
            state["namespace"], query, k=deps.settings.retrieval.top_k, filters=filters, mode="hybrid"
        )
        kept = [h for h in found if related(h)]
        log.debug("query %r -> %d hits, %d related", query, len(found), len(kept))
        hits.extend(kept)
    return {
        "hits": hits,
        "evidence": add_hits(state.get("evidence", []), hits),
        "asked": asked + queries,
        "round": state.get("round", 0) + 1,
    }
