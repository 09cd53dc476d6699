"""The Constructor: builds the three memory levels from raw input (the ``ingest`` graph's agents).

Raw turns or chunks are kept verbatim; atomic facts are extracted from small
batches of them (each fact cites its raw ids); an episode summarises each
session or document. New facts are checked against memory for duplicates
(similarity first, the Judge only for near-duplicates) and for contradictions,
which go to the Refresher. Extracted facts pass ``agents.quality`` first:
repetition loops, copies of the instructions and text the cited turns do not
support are rejected, and a batch left with no fact falls back to sentence-level
facts taken verbatim from its raw items. The counts are in ``extraction``.

Crash safety: nothing is written until the end, and then facts and episodes
go in before the raw items they came from. A raw item present in memory
therefore always has its derived items, and a re-run only processes raw items
memory does not hold yet.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Literal, TypedDict

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from agentrag.agents.quality import reject, sentences, support
from agentrag.agents.refresher import supersede_all
from agentrag.deps import Deps, deps_of
from agentrag.errors import ParseError
from agentrag.llm.structured import structured, structured_many
from agentrag.memory.store import SearchFilters
from agentrag.state import ChatState, IngestState
from agentrag.types import Conflict, MemoryItem, ShortText, utcnow

log = logging.getLogger(__name__)

TURNS_PER_CALL = 8
EPISODE_MIN_ITEMS = 3
EPISODE_MAX_CHARS = 6000
DUPLICATE_SIM = 0.95
"""At or above this cosine similarity a fact is a duplicate without asking the Judge."""
NEAR_DUPLICATE_SIM = 0.85
"""Between this and DUPLICATE_SIM the Judge decides."""
CANDIDATE_SIM = 0.45
"""Existing facts at least this similar are checked for contradiction."""


class ExtractedFact(BaseModel):
    """One fact as the model returns it."""

    text: str = Field(max_length=200)
    from_: list[int] = Field(default_factory=list, alias="from", max_length=8)
    speaker: str | None = Field(None, max_length=60)
    entities: list[ShortText] = Field(default_factory=list, max_length=8)


class FactList(BaseModel):
    """The fact extractor's structured reply."""

    facts: list[ExtractedFact] = Field(default_factory=list, max_length=6)


class EpisodeSummary(BaseModel):
    """The episode summariser's structured reply."""

    summary: str = Field(max_length=600)


class DuplicateCheck(BaseModel):
    """The Judge's near-duplicate verdict."""

    duplicate: bool


class ConsistencyCheck(BaseModel):
    """The Judge's contradiction check of one new fact against numbered existing facts."""

    contradicts: list[int] = Field(default_factory=list, max_length=5)
    reason: str = Field("", max_length=200)


def _group_key(item: MemoryItem) -> str:
    return item.session_id or item.source_id


def _when(item: MemoryItem) -> str:
    return item.event_time.strftime("%Y-%m-%d") if item.event_time else ""


def _latest(items: Sequence[MemoryItem]) -> datetime | None:
    times = [i.event_time for i in items if i.event_time]
    return max(times) if times else None


class PendingUpdate(TypedDict):
    """What ``select_new`` writes."""

    items: list[MemoryItem]


def select_new(state: IngestState, runtime: Runtime[Deps]) -> PendingUpdate:
    """Keep only raw items memory does not already hold with the same text (idempotent re-ingest).

    A queued derivation (``stored``) passes raw items already written on the
    request path: those are kept; the job's idempotency comes from the queue.
    """
    deps = deps_of(runtime)
    items = state.get("items", [])
    if state.get("stored"):
        return {"items": list(items)}
    held = {i.id: i.text for i in deps.memory.get(state["namespace"], [i.id for i in items])}
    pending = [i for i in items if held.get(i.id) != i.text]
    log.info("ingest: %d of %d raw items are new", len(pending), len(items))
    return {"items": pending}


def route_after_select(state: IngestState) -> Literal["extract_facts", "write"]:
    """Derive facts and episodes unless the caller asked for raw items only (or nothing is new)."""
    return "extract_facts" if state.get("derive", True) and state.get("items") else "write"


class FactsUpdate(TypedDict):
    """What ``extract_facts`` writes."""

    facts: list[MemoryItem]
    extraction: dict[str, float]


def batches(items: Sequence[MemoryItem], size: int = TURNS_PER_CALL) -> list[list[MemoryItem]]:
    """Consecutive batches that never mix sessions or sources."""
    groups: dict[str, list[MemoryItem]] = defaultdict(list)
    for item in items:
        groups[_group_key(item)].append(item)
    return [g[i : i + size] for g in groups.values() for i in range(0, len(g), size)]


def extract_facts(state: IngestState, runtime: Runtime[Deps]) -> FactsUpdate:
    """Ask the generator for atomic facts, a few turns per call; each fact cites its raw ids."""
    deps = deps_of(runtime)
    ns = state["namespace"]
    work = batches(state.get("items", []))
    prompts = [
        deps.prompts.render(
            "constructor/facts",
            turns=[{"n": n, "text": i.text, "speaker": i.speaker or "", "when": _when(i)} for n, i in enumerate(b, 1)],
        )
        for b in work
    ]
    replies = structured_many(deps.llm, prompts, FactList, prompts=deps.prompts)
    facts: list[MemoryItem] = []
    seen: set[str] = set()
    stats: dict[str, float] = dict.fromkeys(
        ("batches", "failed_replies", "degenerate_replies", "proposed", "repetition", "prompt copy", "unsupported",
         "model_facts", "fallback_batches", "fallback_facts", "support_sum"), 0.0)
    for batch, prompt, reply in zip(work, prompts, replies, strict=True):
        stats["batches"] += 1
        found: list[tuple[str, list[MemoryItem], str | None, list[str]]] = []
        if isinstance(reply, ParseError):
            log.warning("fact extraction failed for %d turns starting %s: %s", len(batch), batch[0].id, reply)
            stats["failed_replies"] += 1
        else:
            degenerate = False
            batch_text = [t for i in batch for t in (i.text, i.speaker or "")]  # small models mis-cite turn numbers
            for f in reply.facts:
                text = " ".join(f.text.split())
                stats["proposed"] += 1
                sources = [batch[n - 1] for n in dict.fromkeys(f.from_) if 1 <= n <= len(batch)] or list(batch)
                why = reject(text, batch_text, prompt.system)
                if why is not None:
                    stats[why] += 1
                    degenerate = degenerate or why != "unsupported"
                    log.info("fact rejected (%s): %.80r", why, text)
                    continue
                found.append((text, sources, f.speaker, list(f.entities)))
            stats["degenerate_replies"] += degenerate
        if not found:  # fall back to sentences taken verbatim from the raw text
            stats["fallback_batches"] += 1
            found = [(t, [i], i.speaker, []) for i in batch for t in sentences(i.text, i.speaker)]
            stats["fallback_facts"] += len(found)
        else:
            stats["model_facts"] += len(found)
        for text, sources, speaker, entities in found:
            if len(text) < 8 or text.lower() in seen:
                continue
            seen.add(text.lower())
            stats["support_sum"] += support(text, [t for s in sources for t in (s.text, s.speaker or "")])
            facts.append(
                MemoryItem.new(
                    namespace=ns,
                    level="fact",
                    text=text,
                    source_id=f"facts:{batch[0].id}",
                    position=len(facts),
                    session_id=batch[0].session_id,
                    speaker=speaker or sources[0].speaker,
                    event_time=_latest(sources),
                    parents=tuple(s.id for s in sources),
                    meta={"entities": ", ".join(entities)[:200]} if entities else {},
                )
            )
    stats["stored"] = float(len(facts))
    return {"facts": facts, "extraction": stats}


class EpisodesUpdate(TypedDict):
    """What ``summarise`` writes."""

    episodes: list[MemoryItem]


def summarise(state: IngestState, runtime: Runtime[Deps]) -> EpisodesUpdate:
    """One episode per session or document with enough new material; parents are its facts (else raw)."""
    deps = deps_of(runtime)
    ns = state["namespace"]
    groups: dict[str, list[MemoryItem]] = defaultdict(list)
    for item in state.get("items", []):
        groups[_group_key(item)].append(item)
    groups = {k: v for k, v in groups.items() if len(v) >= EPISODE_MIN_ITEMS}
    facts_by_raw: dict[str, list[str]] = defaultdict(list)
    for f in state.get("facts", []):
        for p in f.parents:
            facts_by_raw[p].append(f.id)
    prompts = []
    for key, group in groups.items():
        turns, size = [], 0
        for i in group:
            size += len(i.text)
            if size > EPISODE_MAX_CHARS:
                break
            turns.append({"text": i.text, "speaker": i.speaker or ""})
        when = _when(group[0])
        prompts.append(
            deps.prompts.render("constructor/episode", title=f"{key}{f' ({when})' if when else ''}", turns=turns)
        )
    replies = structured_many(deps.llm, prompts, EpisodeSummary, prompts=deps.prompts)
    episodes = []
    for (key, group), reply in zip(groups.items(), replies, strict=True):
        if isinstance(reply, ParseError):
            log.warning("episode summary failed for %s: %s", key, reply)
            continue
        fact_ids = tuple(dict.fromkeys(fid for i in group for fid in facts_by_raw.get(i.id, [])))
        episodes.append(
            MemoryItem.new(
                namespace=ns,
                level="episode",
                text=reply.summary.strip(),
                source_id=f"episode:{key}",
                position=0,
                session_id=group[0].session_id,
                event_time=group[0].event_time,
                parents=fact_ids or tuple(i.id for i in group),
            )
        )
    return {"episodes": episodes}


class DedupeUpdate(TypedDict):
    """What ``dedupe`` writes."""

    facts: list[MemoryItem]
    duplicates: list[str]


def dedupe(state: IngestState, runtime: Runtime[Deps]) -> DedupeUpdate:
    """Drop new facts that repeat existing ones: near-certain by similarity, borderline by the Judge."""
    deps = deps_of(runtime)
    ns = state["namespace"]
    keep, dups = [], []
    facts_only = SearchFilters(levels=("fact",))
    for fact in state.get("facts", []):
        hits = deps.memory.search(ns, fact.text, k=1, filters=facts_only, mode="dense")
        top = hits[0] if hits else None
        sim = top.dense_score if top and top.dense_score is not None else 0.0
        if top and top.item.id == fact.id:
            keep.append(fact)  # same id: an idempotent re-write, not a duplicate
        elif (top and sim >= DUPLICATE_SIM) or (
            top and sim >= NEAR_DUPLICATE_SIM and _judge_duplicate(deps, fact.text, top.item.text)
        ):
            dups.append(fact.id)
        else:
            keep.append(fact)
    return {"facts": keep, "duplicates": dups}


def _judge_duplicate(deps: Deps, new: str, existing: str) -> bool:
    try:
        prompt = deps.prompts.render("judge/duplicate", new=new, existing=existing)
        return structured(deps.llm, prompt, DuplicateCheck, prompts=deps.prompts).duplicate
    except ParseError as exc:
        log.warning("duplicate check unusable, keeping the fact: %s", exc)
        return False


class ConsistencyUpdate(TypedDict):
    """What ``check_consistency`` writes (conflicts are memory item ids)."""

    conflicts: list[Conflict]


def check_consistency(state: IngestState, runtime: Runtime[Deps]) -> ConsistencyUpdate:
    """Ask the Judge whether each new fact makes similar existing facts outdated."""
    deps = deps_of(runtime)
    ns = state["namespace"]
    facts_only = SearchFilters(levels=("fact",))
    new_ids = {f.id for f in state.get("facts", [])}
    work: list[tuple[MemoryItem, list[MemoryItem]]] = []
    for fact in state.get("facts", []):
        hits = deps.memory.search(ns, fact.text, k=3, filters=facts_only, mode="dense")
        cands = [
            h.item
            for h in hits
            if h.item.id not in new_ids
            and (h.dense_score or 0.0) >= CANDIDATE_SIM
            and not (fact.event_time and h.item.event_time and h.item.event_time > fact.event_time)
        ]
        if cands:
            work.append((fact, cands))
    prompts = [
        deps.prompts.render(
            "judge/consistency",
            new=f.text,
            existing=[{"n": n, "text": c.text, "when": _when(c)} for n, c in enumerate(cands, 1)],
        )
        for f, cands in work
    ]
    replies = structured_many(deps.llm, prompts, ConsistencyCheck, prompts=deps.prompts)
    conflicts = []
    for (fact, cands), reply in zip(work, replies, strict=True):
        if isinstance(reply, ParseError):
            log.warning("consistency check unusable for %s: %s", fact.id, reply)
            continue
        for n in dict.fromkeys(reply.contradicts):
            if 1 <= n <= len(cands):
                conflicts.append(Conflict(older=cands[n - 1].id, newer=fact.id, reason=reply.reason))
    return {"conflicts": conflicts}


def route_after_consistency(state: IngestState) -> Literal["refresh", "write"]:
    """Conflicts go to the Refresher before anything is written."""
    return "refresh" if state.get("conflicts") else "write"


class RefreshUpdate(TypedDict):
    """What the ingest-side ``refresh`` writes."""

    superseded: list[str]


def refresh_memory(state: IngestState, runtime: Runtime[Deps]) -> RefreshUpdate:
    """Supersede each outdated fact by the new fact that contradicts it."""
    deps = deps_of(runtime)
    ns = state["namespace"]
    new = {f.id: f for f in state.get("facts", [])}
    old = {i.id: i for i in deps.memory.get(ns, [c.older for c in state.get("conflicts", [])])}
    pairs = [
        (old[c.older], new[c.newer], c.reason) for c in state.get("conflicts", []) if c.older in old and c.newer in new
    ]
    return {"superseded": supersede_all(deps.memory, ns, pairs)}


class WriteUpdate(TypedDict):
    """What ``write`` writes: ids stored in this run."""

    written: list[str]


def write(state: IngestState, runtime: Runtime[Deps]) -> WriteUpdate:
    """Store facts and episodes first, raw items last (see the module docstring)."""
    deps = deps_of(runtime)
    ns = state["namespace"]
    written: list[str] = []
    # A queued derivation's raw items were written on the request path; writing them again here would
    # bring back a turn forgotten while its facts were being derived (the store drops those facts).
    raw = [] if state.get("stored") else state.get("items", [])
    for batch in (state.get("facts", []), state.get("episodes", []), raw):
        if batch:
            res = deps.memory.add(ns, batch, actor="constructor")
            written += list(res.added) + list(res.updated)
    return {"written": written}


class TurnUpdate(TypedDict):
    """What ``remember_turn`` writes: the user's turn as a raw item for the ingest subgraph."""

    items: list[MemoryItem]


def remember_turn(state: ChatState, runtime: Runtime[Deps]) -> TurnUpdate:
    """Turn the user's message into a raw item (the assistant's reply is not stored as memory).

    Only what the user said is remembered: storing the model's own answers would
    let a wrong answer come back later as "evidence".
    """
    text = state["question"]
    session = state.get("session_id") or "chat"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    item = MemoryItem.new(
        namespace=state["namespace"],
        level="raw",
        text=text,
        source_id=f"chat:{session}:{digest}",
        position=0,
        session_id=session,
        speaker=state.get("speaker") or "user",
        event_time=utcnow(),
    )
    return {"items": [item]}
