"""The Retriever: turns the question (and later, sub-queries) into hits from memory.

Evidence is additive. The first retrieval of a question always holds exactly what
naive retrieval would show (the raw top-k of the question, same k, same hybrid
search): that is the *floor*, and no later step removes it. Everything else
(sub-queries, a time-filtered search for the router's time hint, facts and
episodes with the raw turns they came from, later rounds of the notes loop) is
*added* in rank order while it fits a per-question token budget
(``Settings.evidence.budget_tokens``); the budget and what was used are kept in
the state so a run record can report them.

The first round also picks the passages of the answer's focused first read
(``focus``: N): with ``evidence.focus_pick: hop``, naive retrieval's best N-1 and the
best new passage of a second search for the question plus the best passage. A
multi-hop question names the first passage's entity, rarely the bridge one; the
passage itself does (multi-hop dense retrieval's query expansion). A hop passage
outside the floor is an addition like any other.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypedDict

from langgraph.runtime import Runtime

from agentrag.agents.evidence import add_hits, approx_tokens
from agentrag.deps import Deps, deps_of
from agentrag.memory.store import SearchFilters
from agentrag.settings import EvidenceConfig
from agentrag.state import AnswerState
from agentrag.types import Evidence, FocusPick, Hit, Level, MemoryItem, Route

log = logging.getLogger(__name__)

MIN_DENSE_SIM = 0.2
"""Hits found only by dense search below this cosine similarity are noise, not evidence."""
DERIVED: tuple[Level, ...] = ("fact", "episode")
_MONTHS = {m: i for i, m in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"), start=1)}


def related(hit: Hit) -> bool:
    """Keep lexical matches, and dense matches that are at least loosely related."""
    if hit.sparse_score:
        return True
    return hit.dense_score is None or hit.dense_score >= MIN_DENSE_SIM


class RetrieveUpdate(TypedDict, total=False):
    """What ``retrieve`` writes."""

    hits: list[Hit]
    evidence: list[Evidence]
    asked: list[str]
    round: int
    floor: list[str]
    budget: dict[str, int]
    focus: list[str]


def focus_size(cfg: EvidenceConfig, focus: int | None = None, pick: FocusPick | None = None) -> int:
    """How many passages the focused read takes, when one of them comes from the second hop (else 0).

    ``focus``/``pick`` override ``Settings.evidence.focus``/``focus_pick``.
    """
    k = cfg.focus if focus is None else focus
    return k if k and k >= 2 and (pick or cfg.focus_pick) == "hop" else 0


def time_window(hint: str | None) -> tuple[datetime, datetime] | None:
    """The router's time hint as a date range: ``2023``, ``May 2023`` or ``8 May 2023``; None otherwise."""
    if not hint:
        return None
    text = hint.lower()
    year = re.search(r"\b(19|20)\d\d\b", text)
    if not year:
        return None
    y = int(year.group(0))
    month = next((n for name, n in _MONTHS.items() if re.search(rf"\b{name[:3]}", text)), None)
    if month is None:
        return datetime(y, 1, 1, tzinfo=UTC), datetime(y + 1, 1, 1, tzinfo=UTC)
    day = re.search(r"\b([0-3]?\d)(st|nd|rd|th)?\b(?!\d)", text.replace(year.group(0), ""))
    start = datetime(y, month, 1, tzinfo=UTC)
    end = datetime(y + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    if day and 1 <= int(day.group(1)) <= 31:
        try:
            start = datetime(y, month, int(day.group(1)), tzinfo=UTC)
        except ValueError:
            return start, end
        end = datetime.fromtimestamp(start.timestamp() + 86400, tz=UTC)
    return start, end


def with_sources(deps: Deps, namespace: str, hits: Sequence[Hit]) -> list[Hit]:
    """Each derived hit followed by the raw items it came from (a fact or episode brings its sources)."""
    out: list[Hit] = []
    for hit in hits:
        out.append(hit)
        if hit.item.level == "raw":
            continue
        parents = list(hit.item.parents)
        raw: list[MemoryItem] = []
        for _ in range(2):  # episode -> facts -> raw
            if not parents:
                break
            found = deps.memory.get(namespace, parents)
            raw += [i for i in found if i.level == "raw"]
            parents = [p for i in found if i.level != "raw" for p in i.parents]
        out += [Hit(item=i, score=hit.score) for i in raw]
    return out


def retrieve(
    state: AnswerState,
    runtime: Runtime[Deps],
    derived: bool | None = None,
    focus: int | None = None,
    focus_pick: FocusPick | None = None,
) -> RetrieveUpdate:
    """Search memory: the raw top-k floor on the first round, then additions within the budget.

    ``derived`` overrides ``Settings.evidence.derived_levels``, ``focus``/``focus_pick`` the
    focused read's size and pick (the ablation methods use them).
    """
    deps = deps_of(runtime)
    route = state.get("route") or Route()
    question = state["question"]
    asked = list(state.get("asked", []))
    queries = [q for q in (state.get("queries") or [question]) if q not in asked] or [question]
    k = deps.settings.retrieval.top_k
    use_derived = deps.settings.evidence.derived_levels if derived is None else derived
    # derived levels beside the raw floor are additions (a setting); a route over derived levels only is explicit
    levels = tuple(lv for lv in route.levels if lv == "raw" or use_derived) if "raw" in route.levels else route.levels
    pool = list(state.get("evidence", []))
    floor = list(state.get("floor", []))
    budget = dict(state.get("budget") or {"budget_tokens": deps.settings.evidence.budget_tokens, "floor_tokens": 0,
                                          "added_tokens": 0, "skipped": 0})

    def search(query: str, lv: tuple[Level, ...], **kw: datetime) -> list[Hit]:
        found = deps.memory.search(
            state["namespace"], query, k=k, filters=SearchFilters(levels=lv, **kw), mode="hybrid"
        )
        return [h for h in found if related(h)]

    first_round = not floor and not asked
    floor_hits: list[Hit] = []
    if first_round and "raw" in levels:
        floor_hits = search(question, ("raw",))  # exactly naive_rag's retrieval
        pool = add_hits(pool, floor_hits)
        floor = [e.id for e in pool]
        budget["floor_tokens"] = sum(approx_tokens(e.text) for e in pool)
    size = focus_size(deps.settings.evidence, focus, focus_pick) if floor_hits else 0
    top = [h.item for h in floor_hits[: size - 1]] if size else []
    hopped: list[Hit] = []
    if top:  # the best passage's words make the query: the bridge shares them, not the question's
        seen = {i.id for i in top}
        hopped = [h for h in search(f"{question}\n{top[0].text}", ("raw",)) if h.item.id not in seen][:1]
    extra: list[Hit] = list(hopped)  # first, so the budget takes it before sub-query finds
    for query in queries:
        lv = levels if not (first_round and query == question) else tuple(x for x in levels if x != "raw")
        if lv:
            found = search(query, lv)  # beside the raw floor a fact brings its sources; a facts-only route does not
            extra += with_sources(deps, state["namespace"], found) if "raw" in levels else found
    window = time_window(route.time_hint) if first_round else None
    if window and "raw" in levels:
        extra += search(question, ("raw",), time_from=window[0], time_to=window[1])
    kept: list[Hit] = []
    known = {e.item_id for e in pool}
    for hit in extra:
        if hit.item.id in known:
            continue
        cost = approx_tokens(hit.item.text)
        if budget["added_tokens"] + cost > budget["budget_tokens"]:
            budget["skipped"] += 1
            continue
        budget["added_tokens"] += cost
        known.add(hit.item.id)
        kept.append(hit)
    hits = floor_hits + [h for h in extra if h.item.id in known]  # this round's finds that are in the pool
    log.debug("round %d: %d floor hits, %d added, budget %s", state.get("round", 0) + 1, len(floor_hits), len(kept),
              budget)
    evidence = add_hits(pool, kept)
    update: RetrieveUpdate = {
        "hits": hits,
        "evidence": evidence,
        "asked": asked + queries,
        "round": state.get("round", 0) + 1,
        "floor": floor,
        "budget": budget,
    }
    if top:
        ids = {e.item_id: e.id for e in evidence}
        update["focus"] = [ids[i] for i in [*(i.id for i in top), *(h.item.id for h in hopped)] if i in ids]
    return update
