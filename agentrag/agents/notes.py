"""Adaptive-Note: an iterative note that grows while the graph retrieves.

Each step merges newly retrieved, unseen evidence into a candidate note and
proposes new queries that avoid earlier ones. A reviewer keeps the candidate
only if it is better than the current note. The loop stops after a number of
rejected notes, a number of steps, or a number of unique items, whichever comes
first (configurable in ``Settings.notes``; defaults 2 / 3 / 15 as in the paper).
A fourth rule that is *not* the paper's, "the note proposed no unseen query", is a
named setting (``notes.stop_on_no_new_queries``), off by default: it ended most
runs after one step in the first evaluation. One loop implementation serves both the
``adaptive_note`` baseline and the agentrag answer graph.
"""

from __future__ import annotations

import logging
from typing import Literal, TypedDict

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from agentrag.agents.evidence import add_inferences, numbered, shown_to_answer
from agentrag.agents.steps import Ask, Steps, drive, node
from agentrag.deps import Deps, deps_of
from agentrag.errors import ParseError
from agentrag.settings import NotesConfig
from agentrag.state import AnswerState
from agentrag.types import Evidence, Note, ShortText

log = logging.getLogger(__name__)


class Inference(BaseModel):
    """A conclusion drawn from several passages, citing them."""

    text: str = Field(max_length=300)
    from_: list[int] = Field(default_factory=list, alias="from", max_length=6)


class NoteReply(BaseModel):
    """The note writer's structured reply."""

    note: str = Field(max_length=600)
    queries: list[ShortText] = Field(default_factory=list, max_length=2)
    inferences: list[Inference] = Field(default_factory=list, max_length=3)


class NoteReview(BaseModel):
    """The reviewer's verdict on a candidate note."""

    better: bool


class NoteUpdate(TypedDict):
    """What ``take_note`` writes."""

    note: Note
    notes_rejected: int
    notes_steps: int
    queries: list[str]
    evidence: list[Evidence]
    stop_reason: str
    noted: int


def stop_reason(rejected: int, steps: int, unique_items: int, new_queries: int, cfg: NotesConfig) -> str:
    """Which Adaptive-Note stop rule fires, or "" to keep going."""
    if rejected >= cfg.max_rejections:
        return f"notes: {rejected} rejected notes"
    if steps >= cfg.max_steps:
        return f"notes: {steps} steps"
    if unique_items >= cfg.max_items:
        return f"notes: {unique_items} unique items"
    if cfg.stop_on_no_new_queries and new_queries == 0:
        return "notes: no new queries (extra rule, notes.stop_on_no_new_queries)"
    return ""


def take_note(state: AnswerState, runtime: Runtime[Deps]) -> NoteUpdate:
    """Refine the note with evidence not yet noted; keep it only if the reviewer prefers it."""
    return drive(take_note_steps(state, deps_of(runtime)), deps_of(runtime))


def take_note_steps(state: AnswerState, deps: Deps) -> Steps[NoteUpdate]:
    """``take_note``'s body, for the sync and the async path (``agentrag.agents.steps``)."""
    question = state["question"]
    current = state.get("note")
    pool = list(state.get("evidence", []))
    shown = shown_to_answer(state)
    noted_upto = state.get("noted", 0)
    fresh = [e for e in shown if int(e.id[1:]) > noted_upto] if current is not None else shown
    items = {h.item.id: h.item for h in state.get("hits", [])}
    asked = state.get("asked", [])
    rejected, steps = state.get("notes_rejected", 0), state.get("notes_steps", 0) + 1
    newest = max((int(e.id[1:]) for e in pool), default=0)
    unique = len({h.item.id for h in state.get("hits", [])})
    if not fresh and current is not None:
        # The round found nothing unseen, so no candidate note can add to the current one: that is a
        # rejected note without a call. Showing all the evidence again instead (as before) paid for the
        # whole pool, the router's additions included, in every such step.
        log.debug("note step %d: no unseen evidence; counted as rejected without a call", steps)
        return {
            "note": current, "notes_rejected": rejected + 1, "notes_steps": steps, "queries": [], "evidence": pool,
            "stop_reason": stop_reason(rejected + 1, steps, unique, 0, deps.settings.notes), "noted": newest,
        }
    try:
        reply = yield Ask(
            deps.prompts.render(
                "notes/update",
                question=question,
                note=current.text if current else "",
                passages=numbered(fresh, items),
                asked=asked,
            ),
            NoteReply,
        )
    except ParseError as exc:
        log.warning("note update unusable; counting it as rejected: %s", exc)
        reply = None
    note = current
    if reply is not None:
        candidate = Note(text=reply.note.strip(), round=steps, accepted=True)
        if current is None or (yield from _better(deps, question, current.text, candidate.text)):
            note = candidate
            ids = [e.id for e in fresh]
            pool = add_inferences(
                pool, [(i.text, [ids[n - 1] for n in i.from_ if 1 <= n <= len(ids)]) for i in reply.inferences]
            )
        else:
            rejected += 1
    else:
        rejected += 1
    if note is None:
        note = Note(text="", round=steps, accepted=False)
    seen = {q.lower() for q in asked}
    queries = [q.strip() for q in (reply.queries if reply else []) if q.strip() and q.strip().lower() not in seen]
    reason = stop_reason(rejected, steps, unique, len(queries), deps.settings.notes)
    return {
        "note": note,
        "notes_rejected": rejected,
        "notes_steps": steps,
        "queries": queries,
        "evidence": pool,
        "stop_reason": reason,
        "noted": newest,
    }


def _better(deps: Deps, question: str, old: str, new: str) -> Steps[bool]:
    try:
        review: NoteReview = yield Ask(deps.prompts.render("notes/review", question=question, old=old, new=new),
                                       NoteReview)
    except ParseError as exc:
        log.warning("note review unusable; keeping the old note: %s", exc)
        return False
    return review.better


take_note_node = node(take_note_steps)
"""``take_note`` as a graph node with a sync and an async body."""


def route_after_note(state: AnswerState) -> Literal["retrieve", "answer"]:
    """Stop when a stop rule fired or the round cap is reached; otherwise retrieve again."""
    if state.get("stop_reason") or state.get("round", 0) >= state.get("max_rounds", 1):
        return "answer"
    return "retrieve"
