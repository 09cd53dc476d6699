"""The Retriever's router: whether to search memory, how, and with which queries.

Adaptive-RAG and "When to retrieve" route by question complexity: no retrieval,
one step, or iterative. A 135M generator asked for that plan said "no
retrieval" for 97 of 98 evaluation questions and never "iterative", so by
default the plan comes from a small learned classifier instead
(``agentrag.routing``: the question's embedding, cheap text cues and a probe
search of memory). The generator can still plan (``router.kind: llm``), for
strong models; its unparsable replies fall back to the classifier.

Two rules hold whoever plans, because a noisy decision must not make answers
worse than plain retrieval:

* "no retrieval" is never kept when memory holds related items (the probe's top
  dense similarity reaches ``router.related_above``, or a named entity has hits):
  such a plan is overruled and escalates to the iterative route, since a planner
  that misjudged this question is not to be trusted on its difficulty either;
* a learned decision less probable than ``router.min_confidence`` escalates to
  the iterative route (the notes loop, with its own caps).

(The converse is not applied: a question about someone's life that memory knows
nothing about still goes to retrieval if the planner says so, so that the answer
is an abstention rather than a guess.) Sub-queries that share no content word
with the question are dropped as degenerate. The Route records who decided, the
class probabilities and why.
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
from agentrag.routing.features import Probe, content_words, feature_vector, probe_memory
from agentrag.routing.model import load_model
from agentrag.settings import RouterConfig
from agentrag.state import AnswerState
from agentrag.types import LEVELS, Route, RouteKind, ShortText

__all__ = ["RoutePlan", "content_words", "plan_to_route", "route", "route_after_plan"]

log = logging.getLogger(__name__)
MAX_QUERIES = 3
_TIME = re.compile(
    r"\b((?:\d{1,2}\s+)?(?:january|february|march|april|may|june|july|august|september|october|november|december)"
    r"(?:\s+\d{1,2})?(?:,?\s+\d{4})?|(?:1[5-9]|20)\d\d|(?:last|this|next)\s+(?:week|month|year|weekend)|yesterday)\b",
    re.IGNORECASE,
)


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


def plan_to_route(
    plan: RoutePlan, question: str, reason: str = "planned by the router", **extra: object
) -> Route:
    """Normalise a plan: the question itself first, then distinct on-topic sub-queries."""
    queries = [question]
    topic = content_words(question)
    for q in plan.queries:
        q = q.strip()
        if q and q.lower() not in {x.lower() for x in queries} and content_words(q) & topic:
            queries.append(q)
    return Route.model_validate(
        {
            "kind": plan.kind, "levels": LEVELS,
            "queries": tuple(queries[: MAX_QUERIES + 1]) if plan.kind != "none" else (),
            "time_hint": plan.time.strip() or None, "reason": reason, **extra,
        }
    )


def holds_related(probe: Probe, cfg: RouterConfig) -> str:
    """Why memory counts as holding items related to the question ("" when it does not)."""
    if probe.dense_top >= cfg.related_above:
        return f"top similarity {probe.dense_top:.2f}"
    hit = [e for e, ids in zip(probe.entities, probe.entity_hits, strict=True) if ids]
    return f"entity hits for {', '.join(hit)}" if hit else ""


def time_hint(question: str) -> str:
    """The first explicit date or period the question names ("" if none)."""
    m = _TIME.search(question)
    return m.group(0) if m else ""


def learned_plan(question: str, probe: Probe, cfg: RouterConfig) -> tuple[RoutePlan, dict[str, float], str]:
    """The classifier's plan, its class probabilities and why; sub-queries are the named entities."""
    proba = load_model(cfg.weights).proba(feature_vector(question, probe))
    kind: RouteKind = max(proba, key=lambda c: proba[c])
    queries = list(probe.entities) if kind == "iterative" else []
    why = f"learned router: {kind} (p={proba[kind]:.2f})"
    plan = RoutePlan(kind=kind, queries=queries[:MAX_QUERIES], time=time_hint(question)[:60])
    return plan, {c: round(p, 4) for c, p in proba.items()}, why


def llm_plan(deps: Deps, question: str) -> RoutePlan | None:
    """The generator's plan, or None when its reply is unusable."""
    try:
        return structured(
            deps.llm, deps.prompts.render("retriever/route", question=question), RoutePlan, prompts=deps.prompts
        )
    except ParseError as exc:
        log.warning("LLM router reply unusable, falling back to the learned router: %s", exc)
        return None


def decide(deps: Deps, question: str, namespace: str) -> Route:
    """Plan with the configured router, then apply the rules that always hold."""
    cfg = deps.settings.router
    probe = probe_memory(deps.memory, namespace, question, k=cfg.probe_k)
    proba: dict[str, float] | None = None
    plan = llm_plan(deps, question) if cfg.kind == "llm" else None
    if plan is not None:
        source, why = "llm", f"LLM router: {plan.kind}"
    else:
        source = "learned"
        plan, proba, why = learned_plan(question, probe, cfg)
        if cfg.kind == "llm":
            why = f"LLM router reply unusable; {why}"
    escalated = False
    related = holds_related(probe, cfg) if plan.kind == "none" else ""
    if related:
        plan, escalated = plan.model_copy(update={"kind": "iterative", "queries": list(probe.entities)}), True
        why += f"; no retrieval overruled, memory holds related items ({related}): iterative"
    elif proba is not None and plan.kind != "iterative" and proba[plan.kind] < cfg.min_confidence:
        plan, escalated = plan.model_copy(update={"kind": "iterative", "queries": list(probe.entities)}), True
        why += f"; below the {cfg.min_confidence:.2f} confidence floor: iterative"
    return plan_to_route(plan, question, why, source=source, probabilities=proba, escalated=escalated)


def route(state: AnswerState, runtime: Runtime[Deps]) -> RouteUpdate:
    """Plan the retrieval for the question."""
    deps = deps_of(runtime)
    r = decide(deps, state["question"], state["namespace"])
    log.info("route %s (%s)", r.kind, r.reason)
    return {"route": r, "queries": list(r.queries), "round": 0, "max_rounds": deps.settings.max_rounds}


def route_after_plan(state: AnswerState) -> Literal["retrieve", "answer"]:
    """Skip memory entirely when the router says it cannot help."""
    return "answer" if state["route"].kind == "none" else "retrieve"
