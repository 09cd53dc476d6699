"""Graph state: TypedDicts with reducers, shared by the graphs in ``graphs/``.

Values inside are frozen pydantic models (see ``types.py``), so a checkpoint is
a faithful record of what each node saw and produced.
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from agentrag.types import Citation, Evidence, Hit, Note, Route, Verdict


def merge_hits(old: list[Hit], new: list[Hit]) -> list[Hit]:
    """Accumulate hits across rounds, keeping the first (best-ranked) copy of each item."""
    seen = {h.item.id for h in old}
    return old + [h for h in new if h.item.id not in seen and not seen.add(h.item.id)]  # type: ignore[func-returns-value]


class AnswerInput(TypedDict):
    """What a caller passes to the answer graph."""

    question: str
    namespace: str


class AnswerState(TypedDict, total=False):
    """The answer graph's working state."""

    question: str
    namespace: str
    route: Route
    queries: list[str]
    asked: list[str]
    hits: Annotated[list[Hit], merge_hits]
    evidence: list[Evidence]
    note: Note | None
    verdict: Verdict | None
    round: int
    max_rounds: int
    answer: str
    abstained: bool
    citations: list[Citation]


class AnswerOutput(TypedDict, total=False):
    """What the answer graph returns."""

    question: str
    route: Route
    evidence: list[Evidence]
    note: Note | None
    round: int
    answer: str
    abstained: bool
    citations: list[Citation]
