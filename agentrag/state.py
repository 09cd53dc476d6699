"""Graph state: TypedDicts with reducers, shared by the graphs in ``graphs/``.

Values inside are frozen pydantic models (see ``types.py``), so a checkpoint is
a faithful record of what each node saw and produced.
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from agentrag.types import Citation, Conflict, Evidence, Hit, MemoryItem, Note, Route, Verdict


def merge_hits(old: list[Hit], new: list[Hit]) -> list[Hit]:
    """Accumulate hits across rounds, keeping the first (best-ranked) copy of each item."""
    seen = {h.item.id for h in old}
    return old + [h for h in new if h.item.id not in seen and not seen.add(h.item.id)]  # type: ignore[func-returns-value]


class AnswerInput(TypedDict):
    """What a caller passes to the answer graph."""

    question: str
    namespace: str


class AnswerState(TypedDict, total=False):
    """The answer graph's working state.

    Caps live here (``max_rounds``, the notes' stop counters), not only in
    LangGraph's recursion limit, so a run stops for a reason it can report.
    """

    question: str
    namespace: str
    route: Route
    queries: list[str]
    asked: list[str]
    hits: Annotated[list[Hit], merge_hits]
    evidence: list[Evidence]
    note: Note | None
    notes_rejected: int
    notes_steps: int
    noted: int
    stop_reason: str
    verdict: Verdict | None
    refreshed: list[str]
    round: int
    max_rounds: int
    floor: list[str]
    """Evidence ids of naive retrieval's raw top-k for the question: never dropped."""
    focus: list[str]
    """Evidence ids the answer's focused first read sees (the retriever's pick; absent: the floor's top N)."""
    budget: dict[str, int]
    """The evidence token budget: ``budget_tokens``, ``floor_tokens``, ``added_tokens``, ``skipped``."""
    dropped: list[str]
    """Evidence ids the Judge dropped with confidence (additions only)."""
    decisions: list[dict[str, object]]
    """Every calibrated decision: what was asked, P(yes), threshold, outcome, source."""
    escalation: str
    """Why the question went to the notes loop ("" when it did not)."""
    answer: str
    abstained: bool
    citations: list[Citation]


class AnswerOutput(TypedDict, total=False):
    """What the answer graph returns."""

    question: str
    route: Route
    evidence: list[Evidence]
    note: Note | None
    stop_reason: str
    refreshed: list[str]
    round: int
    budget: dict[str, int]
    decisions: list[dict[str, object]]
    escalation: str
    answer: str
    abstained: bool
    citations: list[Citation]


class IngestInput(TypedDict, total=False):
    """What a caller passes to the ingest graph: raw items already normalised by ``agentrag.ingest``.

    ``derive`` false stores raw items only (no facts or episodes): the fast path
    for bulk corpora. ``stored`` true says the raw items are already in memory
    (a derivation job from the queue): derive from them anyway.
    """

    namespace: str
    items: list[MemoryItem]
    derive: bool
    stored: bool


class IngestState(TypedDict, total=False):
    """The ingest graph's working state."""

    namespace: str
    items: list[MemoryItem]
    derive: bool
    stored: bool
    written: list[str]
    facts: list[MemoryItem]
    episodes: list[MemoryItem]
    duplicates: list[str]
    conflicts: list[Conflict]
    superseded: list[str]
    extraction: dict[str, float]
    """Fact-extraction counts: replies, degenerate replies, rejections by reason, fallback facts, support."""


class IngestOutput(TypedDict, total=False):
    """What the ingest graph returns."""

    written: list[str]
    facts: list[MemoryItem]
    episodes: list[MemoryItem]
    duplicates: list[str]
    conflicts: list[Conflict]
    superseded: list[str]
    extraction: dict[str, float]


class ChatState(AnswerState, total=False):
    """The chat graph: one user turn answered from memory, then remembered."""

    session_id: str
    speaker: str
    derive: bool
    """False: remember the raw turn only; its facts and episodes come from the derivation queue."""
    items: list[MemoryItem]
    written: list[str]
    facts: list[MemoryItem]
    episodes: list[MemoryItem]
    duplicates: list[str]
    conflicts: list[Conflict]
    superseded: list[str]
    extraction: dict[str, float]
