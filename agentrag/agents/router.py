"""The Retriever's router: whether to search memory, how, and with which queries.

Adaptive-RAG and "When to retrieve" route by question complexity: no retrieval,
one step, or iterative. The plan comes from the generator; if its reply cannot
be parsed the safe default is one-step retrieval (never skipping memory by
accident). Multi-hop questions are decomposed into one query per hop (ACQO).
"""

from __future__ import annotations

import logging
from typing import Literal, TypedDict

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from agentrag.deps import Deps, deps_of
from agentrag.errors import ParseError
from agentrag.llm.structured import structured
from agentrag.state import AnswerState
from agentrag.types import LEVELS, Route, RouteKind

log = logging.getLogger(__name__)
MAX_QUERIES = 4


class RoutePlan(BaseModel):
    """The router's structured reply."""

    kind: RouteKind
    queries: list[str] = Field(default_factory=list, max_length=MAX_QUERIES)
    time: str = Field("", max_length=60)


class RouteUpdate(TypedDict):
    """What ``route`` writes."""

    route: Route
    queries: list[str]
    round: int
    max_rounds: int


def plan_to_route(plan: RoutePlan, question: str) -> Route:
    """Normalise a plan: de-duplicated queries, the question itself always first."""
    queries = [question]
    for q in plan.queries:
        q = q.strip()
        if q and q.lower() not in {x.lower() for x in queries}:
            queries.append(q)
    return Route(
        kind=plan.kind,
        levels=LEVELS,
        queries=tuple(queries[: MAX_QUERIES + 1]) if plan.kind != "none" else (),
        time_hint=plan.time.strip() or None,
        reason="planned by the router",
    )


def route(state: AnswerState, runtime: Runtime[Deps]) -> RouteUpdate:
    """Plan the retrieval for the question."""
    deps = deps_of(runtime)
    question = state["question"]
    try:
        plan = structured(
            deps.llm, deps.prompts.render("retriever/route", question=question), RoutePlan, prompts=deps.prompts
        )
        r = plan_to_route(plan, question)
    except ParseError as exc:
        log.warning("router reply unusable, falling back to one-step retrieval: %s", exc)
        r = Route(kind="single", queries=(question,), reason="router reply unusable; default")
    return {"route": r, "queries": list(r.queries), "round": 0, "max_rounds": deps.settings.max_rounds}


def route_after_plan(state: AnswerState) -> Literal["retrieve", "answer"]:
    """Skip memory entirely when the router says it cannot help."""
    return "answer" if state["route"].kind == "none" else "retrieve"
