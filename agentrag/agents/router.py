"""The Retriever's router: whether to search memory, how, and with which queries.

Adaptive-RAG and "When to retrieve" route by question complexity: no retrieval,
one step, or iterative. Multi-hop questions are decomposed into one query per
hop (ACQO). The plan comes from the generator, checked against memory itself:
a cheap dense probe (no LLM) tells whether memory holds closely related items,
and if it does a "no retrieval" plan is overruled, because small generators
misjudge this often and skipping memory that has the answer is the costliest
mistake. (The converse is not applied: a question about someone's life that
memory knows nothing about must still go to retrieval, so that the answer is an
abstention rather than a guess.) An unparsable plan falls back to one-step
retrieval. Sub-queries that share no content word with the question are
dropped as degenerate.
"""

from __future__ import annotations

import logging
import re
from typing import Literal, TypedDict

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from agentrag.deps import Deps, deps_of
from agentrag.errors import ParseError
from agentrag.llm.structured import structured
from agentrag.state import AnswerState
from agentrag.types import LEVELS, Route, RouteKind, ShortText

log = logging.getLogger(__name__)
MAX_QUERIES = 3
CLOSELY_RELATED_ABOVE = 0.45
"""Top dense similarity over which a "no retrieval" plan is overruled."""
_STOP = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "the",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "with",
        "you",
        "your",
    }
)


def content_words(text: str) -> set[str]:
    """Lower-cased words minus stop words and punctuation."""
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP and len(w) > 1}


class RoutePlan(BaseModel):
    """The router's structured reply."""

    kind: RouteKind
    queries: list[ShortText] = Field(default_factory=list, max_length=MAX_QUERIES)
    time: str = Field("", max_length=60)


class RouteUpdate(TypedDict):
    """What ``route`` writes."""

    route: Route
    queries: list[str]
    round: int
    max_rounds: int


def plan_to_route(plan: RoutePlan, question: str, reason: str = "planned by the router") -> Route:
    """Normalise a plan: the question itself first, then distinct on-topic sub-queries."""
    queries = [question]
    topic = content_words(question)
    for q in plan.queries:
        q = q.strip()
        if q and q.lower() not in {x.lower() for x in queries} and content_words(q) & topic:
            queries.append(q)
    return Route(
        kind=plan.kind,
        levels=LEVELS,
        queries=tuple(queries[: MAX_QUERIES + 1]) if plan.kind != "none" else (),
        time_hint=plan.time.strip() or None,
        reason=reason,
    )


def route(state: AnswerState, runtime: Runtime[Deps]) -> RouteUpdate:
    """Plan the retrieval for the question."""
    deps = deps_of(runtime)
    question = state["question"]
    try:
        plan = structured(
            deps.llm, deps.prompts.render("retriever/route", question=question), RoutePlan, prompts=deps.prompts
        )
    except ParseError as exc:
        log.warning("router reply unusable, falling back to one-step retrieval: %s", exc)
        plan = RoutePlan(kind="single")
        reason = "router reply unusable; one-step default"
    else:
        reason = "planned by the router"
    probe = deps.memory.search(state["namespace"], question, k=1, mode="dense") if plan.kind == "none" else []
    top = (probe[0].dense_score or 0.0) if probe else 0.0
    if plan.kind == "none" and top >= CLOSELY_RELATED_ABOVE:
        plan = plan.model_copy(update={"kind": "single"})
        reason = f"router said no retrieval, overruled: memory holds closely related items ({top:.2f})"
    r = plan_to_route(plan, question, reason)
    return {"route": r, "queries": list(r.queries), "round": 0, "max_rounds": deps.settings.max_rounds}


def route_after_plan(state: AnswerState) -> Literal["retrieve", "answer"]:
    """Skip memory entirely when the router says it cannot help."""
    return "answer" if state["route"].kind == "none" else "retrieve"
