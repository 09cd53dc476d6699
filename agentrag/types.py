"""Frozen value types shared by the memory, the agents, the graphs and the API.

They are pydantic models so they validate at the boundary, serialise to JSON for
checkpoints and eval records, and cannot be mutated behind a graph's back.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Level = Literal["raw", "fact", "episode"]
LEVELS: tuple[Level, ...] = ("raw", "fact", "episode")
EvidenceStatus = Literal["active", "revised", "retracted", "inferred"]
RouteKind = Literal["none", "single", "iterative"]
EvidenceOrder = Literal["floor_first", "floor_last", "focus_last"]
"""The answer prompt's passage order (``Settings.evidence.order``, ``agentrag.agents.evidence.arranged``)."""
FocusUse = Literal["answer", "note"]
"""What the focused read's answer does (``Settings.evidence.focus_use``)."""
FocusPick = Literal["rank", "hop"]
"""How the focused read's passages are chosen (``Settings.evidence.focus_pick``)."""
ShortText = Annotated[str, StringConstraints(max_length=120)]
"""A bounded string for model outputs (queries, names): grammar/guided decoding then cannot run away."""


def utcnow() -> datetime:
    """Return an aware UTC timestamp (naive datetimes are ambiguous across machines)."""
    return datetime.now(UTC)


def item_id(namespace: str, source_id: str, position: int | str, level: Level) -> str:
    """Deterministic id: the same input in the same namespace always maps to the same id.

    This is what makes re-ingesting idempotent: a second add of the same chunk
    overwrites itself instead of creating a duplicate.
    """
    key = f"{namespace}\x1f{source_id}\x1f{position}\x1f{level}".encode()
    return f"{level[0]}-{hashlib.sha256(key).hexdigest()[:24]}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MemoryItem(_Frozen):
    """One record in memory, at one level of granularity."""

    id: str
    namespace: str
    level: Level
    text: str
    source_id: str
    position: int = 0
    session_id: str | None = None
    speaker: str | None = None
    event_time: datetime | None = None
    ingested_at: datetime = Field(default_factory=utcnow)
    valid_from: datetime = Field(default_factory=utcnow)
    valid_to: datetime | None = None
    superseded_by: str | None = None
    version: int = 1
    parents: tuple[str, ...] = ()
    meta: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def new(
        cls,
        *,
        namespace: str,
        level: Level,
        text: str,
        source_id: str,
        position: int = 0,
        **fields: object,
    ) -> MemoryItem:
        """Build an item whose id is derived from namespace, source, position and level."""
        return cls(
            id=item_id(namespace, source_id, position, level),
            namespace=namespace,
            level=level,
            text=text,
            source_id=source_id,
            position=position,
            **fields,
        )

    def is_valid_at(self, when: datetime) -> bool:
        """Whether this item was the current version at ``when``."""
        return self.valid_from <= when and (self.valid_to is None or when < self.valid_to)


class Hit(_Frozen):
    """A search result: the item plus the score from each signal that found it."""

    item: MemoryItem
    score: float
    dense_score: float | None = None
    sparse_score: float | None = None
    rank: int = 0


class TokenUsage(_Frozen):
    """Prompt and completion tokens and number of LLM calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            calls=self.calls + other.calls,
        )


class Evidence(_Frozen):
    """An item in the answer's evidence pool, with a status that later evidence may change."""

    id: str
    text: str
    item_id: str | None = None
    status: EvidenceStatus = "active"
    reason: str | None = None
    rests_on: tuple[str, ...] = ()


class Note(_Frozen):
    """The running note the answer graph keeps while it retrieves (Adaptive-Note)."""

    text: str
    round: int = 0
    accepted: bool = True


class Route(_Frozen):
    """How a question will be answered: whether and how to retrieve, and where."""

    kind: RouteKind = "single"
    levels: tuple[Level, ...] = ("raw", "fact", "episode")
    queries: tuple[str, ...] = ()
    time_hint: str | None = None
    reason: str = ""
    source: Literal["learned", "llm", "fixed"] = "fixed"
    """Who decided: the learned classifier, the generator, or code (a method's fixed route)."""
    probabilities: dict[str, float] | None = None
    """The learned router's class probabilities (none / single / iterative), when it ran."""
    escalated: bool = False
    """True when a rule moved the plan up to "iterative" (overruled "none", low confidence)."""


class Conflict(_Frozen):
    """Two items that cannot both be true; ``newer`` is the one to keep."""

    older: str
    newer: str
    reason: str = ""


class Verdict(_Frozen):
    """The Judge's decision on the evidence gathered so far (ids are evidence ids)."""

    relevant_ids: tuple[str, ...] = ()
    sufficient: bool = False
    missing: tuple[str, ...] = ()
    conflicts: tuple[Conflict, ...] = ()


class Citation(_Frozen):
    """A pointer from the answer to an evidence item and the memory item behind it.

    ``by`` says who made the link: the model itself, or agentrag's fallback that
    attributes an answer to the passages containing its words when the model
    cited nothing (small models often leave citations empty).
    """

    evidence_id: str
    item_id: str | None = None
    text: str = ""
    by: Literal["model", "overlap"] = "model"


class Answer(_Frozen):
    """What ``AgentRAG.ask`` returns: the answer and everything needed to audit it."""

    question: str
    text: str
    abstained: bool = False
    citations: tuple[Citation, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    note: Note | None = None
    route: Route | None = None
    rounds: int = 0
    usage: TokenUsage = TokenUsage()
    usage_by_node: dict[str, TokenUsage] = Field(default_factory=dict)
    thread_id: str | None = None
    run_id: str | None = None
    """This run's id: what history entries of memory changes it made carry (a thread holds many runs)."""
