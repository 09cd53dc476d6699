"""The Judge: relevance, sufficiency and consistency of the evidence, as calibrated decisions.

It never writes memory. Each decision is a one-word yes/no question whose P("yes")
is read from the generator's token log-probabilities (``agentrag.llm.decide``) and
compared with a threshold fit on dev data (``Settings.decisions``); every decision
is recorded in the state with its probability, threshold and outcome.

The Judge cannot make the evidence smaller than naive retrieval's: the raw top-k
floor is never dropped, and an added passage is dropped only when P(relevant) is
confidently low. Doubt escalates: an "insufficient" verdict, a low-confidence one
or an unparsable reply sends the question into the notes loop (within the caps);
an unparsable reply is never "sufficient".
"""

from __future__ import annotations

import logging
from itertools import combinations
from typing import Literal, TypedDict

from langgraph.runtime import Runtime

from agentrag.agents.attribution import attribution_lead
from agentrag.agents.evidence import numbered, shown_to_answer
from agentrag.agents.router import content_words
from agentrag.agents.steps import Steps, drive, node
from agentrag.agents.steps import YesNo as YesNoCall
from agentrag.deps import Deps, deps_of
from agentrag.llm.decide import YesNo
from agentrag.memory.store import SearchFilters
from agentrag.settings import DecisionsConfig
from agentrag.state import AnswerState
from agentrag.types import Conflict, Evidence, MemoryItem, Verdict

log = logging.getLogger(__name__)

ATTRIBUTION_K = 5
"""Turns searched for the attribution check, the named speaker's own and, without the name, everyone's
(as many as the first retrieval's top-k)."""

Outcome = Literal["sufficient", "insufficient", "low confidence", "unparsable", "abstain"]


class JudgeUpdate(TypedDict):
    """What ``judge`` writes."""

    verdict: Verdict
    queries: list[str]
    dropped: list[str]
    decisions: list[dict[str, object]]
    escalation: str


def record(kind: str, d: YesNo, threshold: float | None, outcome: str, **about: object) -> dict[str, object]:
    """One decision as the run record shows it."""
    return {"kind": kind, "p_yes": d.p_yes, "source": d.source, "threshold": threshold, "outcome": outcome, **about}


def sufficiency(d: YesNo, cfg: DecisionsConfig) -> Outcome:
    """Map P(the passages hold the answer) to an outcome; unparsable is never sufficient."""
    if d.p_yes is None:
        return "unparsable"
    if cfg.abstain_below is not None and d.p_yes < cfg.abstain_below:
        return "abstain"
    if d.p_yes >= cfg.sufficient_above:
        return "sufficient"
    if d.p_yes < cfg.insufficient_below:
        return "insufficient"
    return "low confidence"


def never_sufficient(llm: object, cfg: DecisionsConfig) -> bool:
    """True when no log-probability could pass the calibrated threshold and none is needed for abstaining.

    Then asking costs a call and changes nothing: the question escalates as "low
    confidence" directly. (A backend without log-probabilities still gets asked: its
    word "yes" counts as P=1.)
    """
    return bool(getattr(llm, "supports_logprobs", False)) and cfg.sufficient_above >= 1.0 \
        and cfg.abstain_below is None


def when(item: MemoryItem | None) -> object:
    """When a stored item became true, for orienting a conflict (None when unknown)."""
    return (item.event_time or item.valid_from) if item is not None else None


def orient(conflict: Conflict, items: dict[str, MemoryItem], evidence: dict[str, Evidence]) -> Conflict:
    """Trust timestamps about which side is newer, when both sides have one."""
    a = when(items.get(evidence[conflict.older].item_id or ""))
    b = when(items.get(evidence[conflict.newer].item_id or ""))
    if a is not None and b is not None and a > b:  # type: ignore[operator]
        return Conflict(older=conflict.newer, newer=conflict.older, reason=conflict.reason)
    return conflict


def conflict_pairs(
    shown: list[Evidence], items: dict[str, MemoryItem], question: str, limit: int
) -> list[tuple[Evidence, Evidence]]:
    """Candidate contradictions: two current facts, or two turns by one speaker at different times.

    Ranked by the content words the pair shares with each other and the question; at most ``limit``.
    """
    def item(e: Evidence) -> MemoryItem | None:
        return items.get(e.item_id or "")

    def candidate(a: MemoryItem, b: MemoryItem) -> bool:
        if a.level == b.level == "fact":
            return a.valid_to is None and b.valid_to is None
        return (a.level == b.level == "raw" and bool(a.speaker) and a.speaker == b.speaker
                and a.event_time is not None and b.event_time is not None and a.event_time != b.event_time)

    topic = content_words(question)
    scored = []
    for x, y in combinations(shown, 2):
        a, b = item(x), item(y)
        if a is not None and b is not None and candidate(a, b):
            wa, wb = content_words(x.text), content_words(y.text)
            scored.append((len(wa & wb) + len((wa | wb) & topic), x, y))
    scored.sort(key=lambda t: -t[0])
    return [(x, y) for _, x, y in scored[:limit]]


def attribution(question: str, state: AnswerState, deps: Deps) -> dict[str, object] | None:
    """An "abstain" decision when the retrieved turns put the question's event on another speaker.

    Checked once per run, on the first look at the evidence; needs no generator call,
    only one filtered search per name the question holds and one search without the name.
    """
    cfg = deps.settings.decisions
    if cfg.attribution_margin is None or any(d.get("kind") == "attribution" for d in state.get("decisions", [])):
        return None
    ns = state["namespace"]

    def speaker_turns(speaker: str | None, query: str) -> list[MemoryItem]:
        hits = deps.memory.search(ns, query, k=ATTRIBUTION_K, filters=SearchFilters(levels=("raw",), speaker=speaker))
        return [h.item for h in hits]

    found = attribution_lead(question, [h.item for h in state.get("hits", [])], speaker_turns)
    if found is None or found[1] <= cfg.attribution_margin:
        return None
    return {"kind": "attribution", "p_yes": None, "source": "speakers", "threshold": cfg.attribution_margin,
            "outcome": "abstain", "speaker": found[0], "lead": round(found[1], 3)}


def judge(state: AnswerState, runtime: Runtime[Deps], revision: bool = True) -> JudgeUpdate:
    """Decide relevance of additions, conflicts between facts and sufficiency; never writes memory."""
    return drive(judge_steps(state, deps_of(runtime), revision), deps_of(runtime))


def judge_steps(state: AnswerState, deps: Deps, revision: bool = True) -> Steps[JudgeUpdate]:
    """``judge``'s body, for the sync and the async path (``agentrag.agents.steps``)."""
    cfg = deps.settings.decisions
    question = state["question"]
    items = {h.item.id: h.item for h in state.get("hits", [])}
    decisions = list(state.get("decisions", []))
    dropped = list(state.get("dropped", []))
    shown = shown_to_answer(state)
    if not shown:
        return {"verdict": Verdict(sufficient=False), "queries": [], "dropped": dropped, "decisions": decisions,
                "escalation": ""}
    wrong_speaker = attribution(question, state, deps)
    if wrong_speaker is not None:
        decisions.append(wrong_speaker)
        return {"verdict": Verdict(sufficient=False), "queries": [], "dropped": dropped, "decisions": decisions,
                "escalation": ""}
    floor = set(state.get("floor", []))
    checked = {str(d.get("evidence")) for d in decisions if d.get("kind") == "relevant"}
    added = [e for e in shown if e.id not in floor and e.status == "active" and e.id not in checked]
    for e in added[: cfg.max_relevance_checks if cfg.drop_below > 0 else 0]:
        d = yield YesNoCall(deps.prompts.render("judge/relevant", question=question,
                                                passage=e.text[: cfg.judge_passage_chars]), cfg.top_logprobs)
        drop = d.below(cfg.drop_below)
        decisions.append(record("relevant", d, cfg.drop_below, "drop" if drop else "keep", evidence=e.id))
        if drop:
            dropped.append(e.id)
    kept = [e for e in shown if e.id not in set(dropped)]
    conflicts: list[Conflict] = []
    if revision and cfg.conflict_above < 1.0:
        by_id = {e.id: e for e in kept}
        for a, b in conflict_pairs(kept, items, question, cfg.max_conflict_checks):
            d = yield YesNoCall(deps.prompts.render("judge/contradict", older=a.text[: cfg.judge_passage_chars],
                                                    newer=b.text[: cfg.judge_passage_chars]), cfg.top_logprobs)
            call = "refresh" if d.at_least(cfg.refresh_above) else "revise" if d.at_least(cfg.conflict_above) \
                else "no conflict"
            c = orient(Conflict(older=a.id, newer=b.id, reason=f"contradiction, P={d.p_yes}"), items, by_id)
            decisions.append(record("conflict", d, cfg.conflict_above, call, older=c.older, newer=c.newer))
            if call != "no conflict":
                conflicts.append(c)
    if never_sufficient(deps.llm, cfg):  # calibration found no P(yes) this backend gives trustworthy
        d = YesNo(p_yes=None, source="skipped", text="not asked: threshold 1.0, no abstention")
        outcome: Outcome = "low confidence"
    else:
        prompt = deps.prompts.render(
            "judge/sufficient", question=question, passages=numbered(kept, items, cfg.judge_passage_chars)
        )
        d = yield YesNoCall(prompt, cfg.top_logprobs)
        outcome = sufficiency(d, cfg)
    decisions.append(record("sufficient", d, cfg.sufficient_above, outcome, round=state.get("round", 0)))
    escalation = "" if outcome in ("sufficient", "abstain") else f"judge: {outcome} (P={d.p_yes})"
    log.debug("judge: %s; %d dropped; %d conflicts", outcome, len(dropped), len(conflicts))
    verdict = Verdict(relevant_ids=tuple(e.id for e in kept), sufficient=outcome == "sufficient",
                      conflicts=tuple(conflicts))
    return {"verdict": verdict, "queries": [], "dropped": dropped, "decisions": decisions, "escalation": escalation}


judge_node = node(judge_steps)
"""``judge`` as a graph node with a sync and an async body."""
judge_node_no_revision = node(lambda state, deps: judge_steps(state, deps, revision=False), name="judge")
"""The Judge without evidence revision (the ablation), as a node."""

Next = Literal["refresh", "revise", "note", "answer"]


def route_after_judge(state: AnswerState) -> Next:
    """Conflicts first (a confident one between stored facts -> refresh, else revise), then escalation."""
    verdict = state.get("verdict")
    if verdict and verdict.conflicts:
        return "refresh" if conflicting_facts(state) else "revise"
    return next_step(state)


def route_after_judge_no_notes(state: AnswerState) -> Literal["refresh", "revise", "answer"]:
    """The ablation without the notes loop: conflicts as usual, then always answer."""
    step = route_after_judge(state)
    return "answer" if step == "note" else step


def conflicting_facts(state: AnswerState) -> list[tuple[MemoryItem, MemoryItem, str]]:
    """High-confidence conflicts between two current stored facts: the only ones the Refresher repairs."""
    verdict = state.get("verdict")
    if not verdict:
        return []
    confident = {
        (str(d.get("older")), str(d.get("newer")))
        for d in state.get("decisions", []) if d.get("kind") == "conflict" and d.get("outcome") == "refresh"
    }
    evidence = {e.id: e for e in state.get("evidence", [])}
    items = {h.item.id: h.item for h in state.get("hits", [])}
    done = set(state.get("refreshed", []))
    out = []
    for c in verdict.conflicts:
        if (c.older, c.newer) not in confident:
            continue
        old = items.get(evidence[c.older].item_id or "") if c.older in evidence else None
        new = items.get(evidence[c.newer].item_id or "") if c.newer in evidence else None
        if old and new and old.level == new.level == "fact" and old.valid_to is None and old.id not in done:
            out.append((old, new, c.reason))
    return out


def next_step(state: AnswerState) -> Literal["note", "answer"]:
    """Escalate to the notes loop unless the evidence was judged sufficient (or the caps are reached)."""
    verdict = state.get("verdict")
    if verdict is None or verdict.sufficient or not state.get("escalation"):
        return "answer"
    if state.get("round", 0) >= state.get("max_rounds", 1):
        return "answer"
    return "note"


def route_after_retrieve(state: AnswerState) -> Literal["judge", "note"]:
    """The Judge looks once; inside the notes loop, new evidence goes straight to the note (as Adaptive-Note)."""
    return "note" if state.get("notes_steps", 0) > 0 else "judge"
