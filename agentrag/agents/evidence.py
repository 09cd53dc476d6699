"""The evidence pool (RetroRAG): numbered items whose status later evidence may change.

This module holds the pure pool operations; the graph nodes that call the
Judge to decide revisions live beside the other agents.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypedDict

from langgraph.runtime import Runtime

from agentrag.deps import Deps
from agentrag.state import AnswerState
from agentrag.types import Conflict, Evidence, EvidenceOrder, Hit, MemoryItem

USABLE = ("active", "inferred")
MAX_PASSAGE_CHARS = 700
CHARS_PER_TOKEN = 4
"""Evidence budgets are in approximate tokens: no tokenizer is at hand for every backend."""


def approx_tokens(text: str) -> int:
    """Approximate tokens of a passage as the answer shows it (cut to ``MAX_PASSAGE_CHARS``)."""
    return min(len(text), MAX_PASSAGE_CHARS) // CHARS_PER_TOKEN + 1


def human_date(when: datetime) -> str:
    """A date as people write it and as gold answers are written: ``8 May 2023`` (not ``2023-05-08``)."""
    return f"{when.day} {when.strftime('%B')} {when.year}"


def add_hits(pool: Sequence[Evidence], hits: Sequence[Hit]) -> list[Evidence]:
    """Append hits not yet in the pool as active evidence ``E<n>``; ids stay stable across rounds."""
    out = list(pool)
    known = {e.item_id for e in out if e.item_id}
    for hit in hits:
        if hit.item.id in known:
            continue
        known.add(hit.item.id)
        out.append(Evidence(id=f"E{len(out) + 1}", text=hit.item.text, item_id=hit.item.id))
    return out


def usable(pool: Sequence[Evidence]) -> list[Evidence]:
    """Evidence an answer may rest on: active items and attributed inferences."""
    return [e for e in pool if e.status in USABLE]


def numbered(
    shown: Sequence[Evidence], items: dict[str, MemoryItem], max_chars: int = MAX_PASSAGE_CHARS
) -> list[dict[str, object]]:
    """Passages as the model sees them: ``[n] (8 May 2023, speaker) text``, truncated."""
    out: list[dict[str, object]] = []
    for n, e in enumerate(shown, start=1):
        item = items.get(e.item_id or "")
        when = ""
        if item is not None:
            parts = [human_date(item.event_time) if item.event_time else "", item.speaker or ""]
            when = ", ".join(p for p in parts if p)
        out.append({"n": n, "text": e.text[:max_chars], "when": when})
    return out


def shown_to_answer(state: AnswerState) -> list[Evidence]:
    """The evidence the answer sees: usable items minus those the Judge dropped, time-hinted first.

    Only additions can have been dropped (``judge`` never drops the raw top-k
    floor), so this always contains naive retrieval's raw top-k.
    """
    dropped = set(state.get("dropped", []))
    floor = set(state.get("floor", []))
    return [e for e in usable(state.get("evidence", [])) if e.id not in dropped or e.id in floor]


def arranged(
    shown: Sequence[Evidence], floor: Sequence[str], order: EvidenceOrder = "floor_first", focus: Sequence[str] = ()
) -> list[Evidence]:
    """The answer prompt's passage order (``Settings.evidence.order``).

    ``floor_first`` shows naive retrieval's raw top-k in rank order,
    then the additions, which therefore sit next to the question. ``floor_last``
    puts the additions first so that the end of the prompt, where a small model
    leans hardest, is exactly what plain retrieval shows. It was meant to stop an
    entity probe's passage becoming the answer; it raised agentrag on the HotpotQA
    fit split (0.131 -> 0.149) but not on 40 fresh dev questions (-0.004) nor on
    any report set, so it is an option, not the default (``evals/reports/README.md``).
    ``focus_last`` (the default) keeps every passage but moves the focused read's passages
    (``focus``) to the end, next to the question and the note that gives their answer: a
    small model leans on the end of its prompt, and there the note and the passages it
    rests on now agree. Without a focused answer it is ``floor_first``.
    """
    if order == "floor_first" or (order == "focus_last" and not focus):
        return list(shown)
    if order == "focus_last":
        picked = [e for i in focus for e in shown if e.id == i]
        return [e for e in shown if e.id not in set(focus)] + picked
    keep = set(floor)
    return [e for e in shown if e.id not in keep] + [e for e in shown if e.id in keep]


def revise(pool: Sequence[Evidence], conflicts: Sequence[Conflict]) -> list[Evidence]:
    """Mark the older side of each conflict revised, then retract inferences that rested on it.

    RetroRAG's retroactivity: a conclusion drawn from evidence that turned out
    to be outdated is itself withdrawn, with a reason naming what replaced it.
    """
    out = {e.id: e for e in pool}
    for c in conflicts:
        old = out.get(c.older)
        if old is None or old.status not in USABLE:
            continue
        why = f"contradicted by {c.newer}" + (f": {c.reason}" if c.reason else "")
        out[c.older] = old.model_copy(update={"status": "revised", "reason": why})
    changed = True
    while changed:  # cascade through chains of inferences
        changed = False
        for e in list(out.values()):
            if e.status == "inferred" and any(out[r].status not in USABLE for r in e.rests_on if r in out):
                out[e.id] = e.model_copy(update={"status": "retracted", "reason": "rested on revised evidence"})
                changed = True
    return [out[e.id] for e in pool]


def add_inferences(pool: Sequence[Evidence], inferences: Sequence[tuple[str, Sequence[str]]]) -> list[Evidence]:
    """Add inferred evidence; an inference that cites no usable evidence is dropped."""
    out = list(pool)
    ok = {e.id for e in out if e.status in USABLE}
    for text, rests_on in inferences:
        basis = tuple(dict.fromkeys(r for r in rests_on if r in ok))
        if not basis or not text.strip():
            continue
        out.append(Evidence(id=f"E{len(out) + 1}", text=text.strip(), status="inferred", rests_on=basis))
    return out


class ReviseUpdate(TypedDict):
    """What ``revise_evidence`` writes."""

    evidence: list[Evidence]


def revise_evidence(state: AnswerState, runtime: Runtime[Deps]) -> ReviseUpdate:
    """Apply the Judge's conflicts to the pool: older evidence revised, dependent inferences retracted."""
    verdict = state.get("verdict")
    pool = list(state.get("evidence", []))
    return {"evidence": revise(pool, verdict.conflicts if verdict else ())}
