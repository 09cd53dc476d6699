"""The Judge: relevance, sufficiency and consistency of the evidence gathered so far.

It never writes memory. Its verdict decides the next step (answer, retrieve
again, take a note, revise evidence, or refresh memory); the routers that read
it are pure functions so the graph drawing shows every real edge.
"""

from __future__ import annotations

import logging
from typing import Literal, TypedDict

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from agentrag.agents.evidence import numbered, usable
from agentrag.deps import Deps, deps_of
from agentrag.errors import ParseError
from agentrag.llm.structured import structured
from agentrag.state import AnswerState
from agentrag.types import Conflict, Evidence, MemoryItem, ShortText, Verdict

log = logging.getLogger(__name__)


class ConflictPair(BaseModel):
    """Two passage numbers that contradict each other."""

    older: int
    newer: int
    reason: str = Field("", max_length=200)


class JudgeReply(BaseModel):
    """The Judge's structured reply (passage numbers, as shown to the model)."""

    relevant: list[int] = Field(default_factory=list, max_length=10)
    sufficient: bool
    missing: list[ShortText] = Field(default_factory=list, max_length=2)
    conflicts: list[ConflictPair] = Field(default_factory=list, max_length=2)


class JudgeUpdate(TypedDict):
    """What ``judge`` writes."""

    verdict: Verdict
    queries: list[str]


def orient(conflict: Conflict, items: dict[str, MemoryItem], evidence: dict[str, Evidence]) -> Conflict:
    """Trust timestamps over the model about which side is newer, when both sides have one."""

    def when(eid: str) -> object:
        item = items.get(evidence[eid].item_id or "")
        return item.event_time or item.valid_from if item else None

    a, b = when(conflict.older), when(conflict.newer)
    if a is not None and b is not None and a > b:  # type: ignore[operator]
        return Conflict(older=conflict.newer, newer=conflict.older, reason=conflict.reason)
    return conflict


def to_verdict(reply: JudgeReply, shown: list[Evidence], items: dict[str, MemoryItem], asked: list[str]) -> Verdict:
    """Map passage numbers back to evidence ids, dropping out-of-range numbers and self-conflicts."""

    def eid(n: int) -> str | None:
        return shown[n - 1].id if 1 <= n <= len(shown) else None

    relevant = tuple(dict.fromkeys(e for n in reply.relevant if (e := eid(n))))
    by_id = {e.id: e for e in shown}
    conflicts: list[Conflict] = []
    for c in reply.conflicts:
        older, newer = eid(c.older), eid(c.newer)
        if older and newer and older != newer:
            conflicts.append(orient(Conflict(older=older, newer=newer, reason=c.reason), items, by_id))
    seen = {q.lower() for q in asked}
    missing = tuple(q.strip() for q in reply.missing if q.strip() and q.strip().lower() not in seen)
    return Verdict(relevant_ids=relevant, sufficient=reply.sufficient, missing=missing, conflicts=tuple(conflicts))


def judge(state: AnswerState, runtime: Runtime[Deps]) -> JudgeUpdate:
    """Grade the usable evidence against the question; never writes memory."""
    deps = deps_of(runtime)
    shown = usable(state.get("evidence", []))
    items = {h.item.id: h.item for h in state.get("hits", [])}
    if not shown:
        return {"verdict": Verdict(sufficient=False, missing=()), "queries": []}
    prompt = deps.prompts.render("judge/verdict", question=state["question"], passages=numbered(shown, items))
    try:
        reply = structured(deps.llm, prompt, JudgeReply, prompts=deps.prompts)
    except ParseError as exc:
        log.warning("judge reply unusable; treating evidence as sufficient as-is: %s", exc)
        return {"verdict": Verdict(relevant_ids=tuple(e.id for e in shown), sufficient=True), "queries": []}
    verdict = to_verdict(reply, shown, items, state.get("asked", []))
    return {"verdict": verdict, "queries": list(verdict.missing)}


Next = Literal["refresh", "revise", "note", "retrieve", "answer"]


def route_after_judge(state: AnswerState) -> Next:
    """Conflicts first (memory facts -> refresh, else revise), then sufficiency and caps."""
    verdict = state["verdict"]
    if verdict and verdict.conflicts:
        return "refresh" if conflicting_facts(state) else "revise"
    return next_step(state)


def conflicting_facts(state: AnswerState) -> list[tuple[MemoryItem, MemoryItem, str]]:
    """Conflicts between two current fact-level memory items: those the Refresher repairs."""
    verdict = state.get("verdict")
    if not verdict:
        return []
    evidence = {e.id: e for e in state.get("evidence", [])}
    items = {h.item.id: h.item for h in state.get("hits", [])}
    done = set(state.get("refreshed", []))
    out = []
    for c in verdict.conflicts:
        old = items.get(evidence[c.older].item_id or "") if c.older in evidence else None
        new = items.get(evidence[c.newer].item_id or "") if c.newer in evidence else None
        if old and new and old.level == new.level == "fact" and old.valid_to is None and old.id not in done:
            out.append((old, new, c.reason))
    return out


def next_step(state: AnswerState) -> Literal["note", "retrieve", "answer"]:
    """After the evidence is consistent: answer, or look further within the caps."""
    verdict = state.get("verdict")
    route = state["route"]
    if verdict is None or verdict.sufficient or state.get("round", 0) >= state.get("max_rounds", 1):
        return "answer"
    if route.kind == "iterative":
        return "note"
    if route.kind == "single" and verdict.missing and state.get("round", 0) < 2:
        return "retrieve"
    return "answer"
