"""The memory store's contract: a small protocol every backend implements.

The store, not the caller, enforces tenancy: every method takes the namespace
as its first argument and reads or writes only inside it. Writes are
idempotent (ids are derived from content position, see ``types.item_id``) and
every change is appended to a history log, so nothing is lost silently and a
crashed ingest can simply be re-run.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from agentrag.types import Hit, Level, MemoryItem

SearchMode = Literal["dense", "sparse", "hybrid"]
HistoryEvent = Literal["add", "update", "invalidate", "supersede", "forget"]


class SearchFilters(BaseModel):
    """Typed search options (never string keys)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    levels: tuple[Level, ...] = ("raw", "fact", "episode")
    speaker: str | None = None
    session_id: str | None = None
    source_id: str | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None
    as_of: datetime | None = None
    include_invalid: bool = False


class HistoryEntry(BaseModel):
    """One change to one item, as appended to the history log."""

    model_config = ConfigDict(frozen=True)

    seq: int
    item_id: str
    namespace: str
    event: HistoryEvent
    at: datetime
    actor: str
    reason: str
    before: str | None = None
    after: str | None = None
    related_id: str | None = None
    run_id: str | None = None
    """The graph run that made the change (``agentrag.runctx``), if it was made inside one."""


class Explanation(BaseModel):
    """Where an item came from and what, if anything, replaced it."""

    model_config = ConfigDict(frozen=True)

    item: MemoryItem
    derived_from: tuple[MemoryItem, ...] = ()
    """Ancestors down to the raw text, nearest first."""
    superseded_by: tuple[MemoryItem, ...] = ()
    """The chain of successors, oldest first."""
    supersedes: tuple[MemoryItem, ...] = ()
    """Items this one replaced."""
    history: tuple[HistoryEntry, ...] = ()


class AddResult(BaseModel):
    """What an add did: new ids, ids already present with the same text, and updated ids."""

    model_config = ConfigDict(frozen=True)

    added: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()


@runtime_checkable
class MemoryStore(Protocol):
    """Multi-level memory scoped by namespace; see DESIGN.md "Memory and retrieval"."""

    def add(self, namespace: str, items: Sequence[MemoryItem], *, actor: str = "system") -> AddResult:
        """Insert or update items (idempotent by id); items must carry ``namespace``."""
        ...

    def get(self, namespace: str, ids: Sequence[str]) -> list[MemoryItem]:
        """Items by id, in the order asked; ids of other namespaces are simply absent."""
        ...

    def list(
        self, namespace: str, level: Level | None = None, *, limit: int = 100, offset: int = 0,
        include_invalid: bool = False,
    ) -> list[MemoryItem]:
        """Items of a namespace, oldest first."""
        ...

    def count(self, namespace: str, level: Level | None = None, *, include_invalid: bool = False) -> int:
        """How many items a namespace holds (currently valid only, by default)."""
        ...

    def search(
        self, namespace: str, query: str, *, k: int = 5, filters: SearchFilters | None = None,
        mode: SearchMode = "hybrid",
    ) -> builtins.list[Hit]:  # ``list`` here would name the method above
        """Best ``k`` currently valid items for ``query`` (dense, BM25 or fused)."""
        ...

    def supersede(
        self, namespace: str, old_id: str, new_item: MemoryItem, *, reason: str, actor: str = "refresher"
    ) -> MemoryItem:
        """Close ``old_id``'s validity, store ``new_item`` as its successor; never deletes."""
        ...

    def invalidate(self, namespace: str, item_id: str, *, reason: str, actor: str = "system") -> MemoryItem:
        """Close an item's validity without a successor (it stays in history)."""
        ...

    def forget(self, namespace: str, ids: Sequence[str], *, reason: str, actor: str = "user") -> int:
        """Hard-delete items (the only hard delete); recorded in history. Returns how many."""
        ...

    def history(self, namespace: str, item_id: str) -> builtins.list[HistoryEntry]:
        """Every recorded change to an item, oldest first."""
        ...

    def explain(self, namespace: str, item_id: str) -> Explanation:
        """Provenance chain down to raw text, plus successors and predecessors."""
        ...

    def close(self) -> None:
        """Flush and release resources."""
        ...
