"""The ``Ledger`` protocol: history and provenance that every worker shares, and the change clock.

The ledger is everything about memory that is not vectors: an append-only log of
every change to every item (with the run that made it, see ``agentrag.runctx``)
and the provenance edges between items. Its sequence numbers are the one clock
caches trust: a BM25 index, a "this collection does not exist" note or a
provenance graph is current for a namespace exactly when it was built at the
namespace's latest sequence number, whichever process wrote it.

Two promises make that work across processes:

* within one namespace, sequence numbers are assigned in commit order (appends to
  a namespace are serialised), so "changed since N" never misses a late commit;
* an append is one transaction: history entries, provenance edges and the
  compare-and-set check land together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # (runtime imports would cycle: the memory package imports the ledger)
    from agentrag.memory.store import HistoryEntry, HistoryEvent
    from agentrag.types import Level

DERIVED_FROM = "derived_from"
SUPERSEDED_BY = "superseded_by"
CLOSING_EVENTS: frozenset[str] = frozenset({"supersede", "invalidate", "forget"})
"""Events after which an item has no current version (a compare-and-set refuses to close it again)."""
ERASED = "[erased: item forgotten]"
"""What ``Ledger.scrub`` leaves in the ``reason`` of entries about forgotten items (the only edit history allows)."""


def content_hash(text: str) -> str:
    """The tombstone's fingerprint of forgotten text: proves what was erased without keeping it."""
    import hashlib

    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Change:
    """A change about to be applied to one item."""

    item_id: str
    level: Level
    event: HistoryEvent
    reason: str
    before: str | None = None
    after: str | None = None
    related_id: str | None = None

    def key(self) -> tuple[str, str | None, str | None]:
        """What makes a replayed change identical to the item's latest entry."""
        return (self.event, self.after, self.related_id)


@dataclass(frozen=True)
class Edge:
    """One provenance edge: ``src -derived_from-> parent`` or ``old -superseded_by-> new``."""

    src: str
    dst: str
    kind: str


@dataclass(frozen=True)
class ChangeRef:
    """The latest change to one item after some sequence number (what a cache replays)."""

    seq: int
    item_id: str
    event: HistoryEvent
    after: str | None


@runtime_checkable
class Ledger(Protocol):
    """History, provenance and the change clock of one state store (SQLite or Postgres)."""

    def append(
        self,
        namespace: str,
        changes: Sequence[Change],
        *,
        actor: str,
        edges: Sequence[Edge] = (),
        reparent: Sequence[str] = (),
        remove_nodes: Sequence[str] = (),
        open_ids: Sequence[str] = (),
    ) -> list[int]:
        """Append changes and edges in one transaction; return the sequence numbers assigned.

        A change identical to its item's latest entry (a crashed call re-run) is not
        written again and gets no number. ``reparent`` drops those items'
        ``derived_from`` edges first; ``remove_nodes`` drops every edge touching them.
        ``open_ids`` is the compare-and-set: each must not be closed (superseded,
        invalidated or forgotten) by anything but this very change, else
        ``ConflictError`` and nothing is written. Entries carry the current run id.
        """
        ...

    def last_seq(self, namespace: str, level: Level | None = None, *, below: int | None = None) -> int:
        """Latest sequence number of a namespace (or one level of it), 0 if none; only below ``below``."""
        ...

    def changes_since(self, namespace: str, level: Level, after: int) -> list[ChangeRef]:
        """The latest change to each item of a level with a sequence number above ``after``."""
        ...

    def entries(self, namespace: str, item_id: str) -> list[HistoryEntry]:
        """Every entry for one item, oldest first."""
        ...

    def latest(self, namespace: str, item_id: str) -> HistoryEntry | None:
        """The item's latest entry, or None."""
        ...

    def edges(self, namespace: str) -> list[Edge]:
        """Every provenance edge of a namespace, in insertion order."""
        ...

    def count(self, namespace: str) -> int:
        """How many history entries a namespace has."""
        ...

    def scrub(self, namespace: str, ids: Sequence[str]) -> int:
        """Erase the text of every entry about forgotten ``ids``; return how many entries changed.

        History is append-only except for this: entries of the ids lose ``before``,
        ``after`` and their ``reason`` (which may quote the text); entries of other
        items that point at them (``related_id``) lose the reason, and a supersede by
        a forgotten item loses its ``after``. Each ``forget`` entry (the tombstone:
        id, content hash, reason, actor, time) is kept as written. The storage is
        compacted so the old bytes do not survive in free pages or logs.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


Row = tuple[str, str, str, str, str, str, str | None, str | None, str | None, str | None]
"""(item_id, level, event, at, actor, reason, before, after, related_id, run_id), in column order."""


def plan_rows(
    namespace: str,
    changes: Sequence[Change],
    latest: dict[str, HistoryEntry],
    *,
    actor: str,
    at: str,
    run_id: str | None,
    open_ids: Sequence[str],
) -> list[Row]:
    """The rows an append writes, after the replay check and the compare-and-set (shared by backends).

    ``latest`` maps item ids to their latest entry, read inside the append's
    transaction (so the check and the write are one atomic step).
    """
    from agentrag.errors import ConflictError

    ours = {c.item_id: c for c in changes}
    for item_id in open_ids:
        prev = latest.get(item_id)
        mine = ours.get(item_id)
        if prev is None or prev.event not in CLOSING_EVENTS:
            continue
        if mine is not None and (prev.event, prev.after, prev.related_id) == mine.key():
            continue  # our own earlier claim, replayed after a crash
        what = f"superseded by {prev.related_id}" if prev.event == "supersede" else f"{prev.event}d"
        raise ConflictError(
            f"{item_id} in namespace {namespace!r} was already {what} (history #{prev.seq} by {prev.actor}); "
            "re-read it and act on its current version"
        )
    seen: dict[str, tuple[str, str | None, str | None]] = {
        k: (v.event, v.after, v.related_id) for k, v in latest.items()
    }
    rows: list[Row] = []
    for c in changes:
        if seen.get(c.item_id) == c.key():
            continue
        seen[c.item_id] = c.key()
        rows.append((c.item_id, c.level, c.event, at, actor, c.reason, c.before, c.after, c.related_id, run_id))
    return rows


def namespace_lock_key(namespace: str) -> int:
    """A stable signed 64-bit key for a namespace (Postgres advisory locks take a bigint)."""
    import hashlib

    digest = hashlib.blake2b(namespace.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


COLUMNS = "seq, item_id, namespace, event, at, actor, reason, before, after, related_id, run_id"
"""History columns in the order ``entry_from_row`` reads them."""


def entry_from_row(row: Sequence[object]) -> HistoryEntry:
    """A history row (``COLUMNS`` order) as the public ``HistoryEntry``."""
    from agentrag.memory.store import HistoryEntry

    names = [c.strip() for c in COLUMNS.split(",")]
    values = dict(zip(names, row, strict=True))
    values["at"] = datetime.fromisoformat(str(values["at"]))
    return HistoryEntry.model_validate(values)
