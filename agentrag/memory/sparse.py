"""Sparse search: BM25 indexes per namespace and level, kept current from the shared ledger.

**Coherence.** An index remembers the ledger sequence number (``generation``) it
reflects. Before every search it asks the ledger for the latest change to each
item since then (by any worker, on any machine) and re-reads just those items
from Chroma. Writes append to the ledger before they reach Chroma, so a change
can be on the ledger while its vectors are still in flight: such a change is
*pending* (Chroma does not yet show what the ledger says) and the index keeps its
generation just below it, so the next search looks again. A write is therefore
visible to every other worker's sparse search on its first search after the
writer's call returns (see README "Staleness bound" for the measurement).

**Locks** are per (namespace, level): one tenant's index build never blocks another's
search, and no lock is held while another level talks to Chroma.

**Memory.** Indexes are kept in LRU order under ``memory.bm25_budget_mb``; the least
recently searched are evicted (large ones saved as snapshots first, so bringing
them back is a file read plus a ledger catch-up).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from chromadb.api.models.Collection import Collection

from agentrag.ledger import ChangeRef, Ledger
from agentrag.memory import records
from agentrag.memory.bm25 import Bm25Filter, Bm25Index, Bm25Stats, Doc
from agentrag.memory.chroma_client import collection_name
from agentrag.memory.vectors import VectorCollections
from agentrag.settings import MemoryConfig
from agentrag.types import Level, MemoryItem

log = logging.getLogger(__name__)

SNAPSHOT_MIN_DOCS = 2000  # smaller BM25 indexes rebuild from Chroma in well under a second
_Key = tuple[str, Level]


def to_doc(item: MemoryItem) -> Doc:
    """What the BM25 index keeps of an item."""
    return Doc(
        id=item.id,
        text=item.text,
        valid_from_us=records.to_us(item.valid_from),
        valid_to_us=records.OPEN_END_US if item.valid_to is None else records.to_us(item.valid_to),
        event_us=None if item.event_time is None else records.to_us(item.event_time),
        speaker=item.speaker,
        session_id=item.session_id,
        source_id=item.source_id,
    )


def landed(ref: ChangeRef, item: MemoryItem | None) -> bool:
    """Whether Chroma already shows what the ledger's latest change to the item says."""
    return _landed(ref, None if item is None else (item.text, item.valid_to is not None))


def _landed(ref: ChangeRef, seen: tuple[str, bool] | None) -> bool:
    """``landed`` on (text, closed) of what Chroma holds, or None when it holds nothing."""
    match ref.event:
        case "forget":
            return seen is None
        case "add" | "update":
            return seen is not None and seen[0] == ref.after
        case _:  # supersede, invalidate
            return seen is not None and seen[1]


class SparseIndexes:
    """BM25 indexes of every (namespace, level), caught up from the ledger, under an LRU memory budget."""

    def __init__(self, vectors: VectorCollections, ledger: Ledger, config: MemoryConfig, snapshot_dir: Path) -> None:
        self.vectors = vectors
        self.ledger = ledger
        self.config = config
        self.snapshot_dir = snapshot_dir
        self._indexes: OrderedDict[_Key, Bm25Index] = OrderedDict()
        self._sizes: dict[_Key, tuple[int, int]] = {}  # key -> (generation when measured, bytes)
        self._locks: dict[_Key, threading.RLock] = {}
        self._guard = threading.Lock()
        self.evictions = 0

    def lock(self, key: _Key) -> threading.RLock:
        """The lock of one (namespace, level)."""
        with self._guard:
            return self._locks.setdefault(key, threading.RLock())

    def search(
        self, col: Collection, ns: str, level: Level, query: str, n: int, flt: Bm25Filter
    ) -> list[tuple[str, float]]:
        """Best ``n`` ids for ``query`` after catching up with the ledger."""
        key = (ns, level)
        with self.lock(key):
            index = self._current(col, ns, level)
            hits = index.search(query, n, flt)
        self._touch(key, index)
        return hits

    def apply(self, ns: str, level: Level, docs: Sequence[Doc], removed: Sequence[str], seqs: Sequence[int]) -> None:
        """Patch a cached index with this process's own write, if it was current just before it.

        ``seqs`` are the ledger numbers the write was given; appends to a namespace
        are serialised, so they follow the index's generation directly or someone
        else wrote in between (then the next search catches up instead).
        """
        key = (ns, level)
        with self.lock(key):
            index = self._indexes.get(key)
            if index is None or not seqs:
                return
            if index.generation != self.ledger.last_seq(ns, level, below=min(seqs)):
                return
            index.upsert(docs)
            index.remove(removed)
            index.generation = max(seqs)

    def drop(self, ns: str, level: Level) -> None:
        """Discard the cached index and its snapshot file (forget: both hold forgotten text and terms).

        Removing ids only masks their rows; the tokens and vocabulary would survive
        in memory and in the next snapshot. The next search rebuilds from Chroma.
        """
        key = (ns, level)
        with self.lock(key):
            with self._guard:
                self._indexes.pop(key, None)
                self._sizes.pop(key, None)
            self.path(ns, level).unlink(missing_ok=True)

    def _current(self, col: Collection, ns: str, level: Level) -> Bm25Index:
        gen = self.ledger.last_seq(ns, level)
        cfg = self.config
        key = (ns, level)
        index = self._indexes.get(key)
        if index is None:
            index = Bm25Index.load(
                self.path(ns, level), rebuild_ratio=cfg.bm25_rebuild_ratio, exact_below=cfg.bm25_exact_below
            )
            if index is not None:
                log.info("loaded BM25 snapshot of %r/%s: %d docs", ns, level, len(index))
        if index is not None and index.generation != gen and not self._catch_up(col, ns, level, index, gen):
            index = None
        if index is None:
            index = self._build(col, ns, level, gen)
        with self._guard:
            self._indexes[key] = index
        return index

    def _build(self, col: Collection, ns: str, level: Level, gen: int) -> Bm25Index:
        """A new index from everything Chroma holds, its generation set below any write still in flight.

        A write appends to the ledger before Chroma: an item the ledger has but Chroma
        does not show yet would otherwise be missed for good (the re-run of a crashed
        write adds no ledger entry to notice it by).
        """
        cfg = self.config
        index = Bm25Index(rebuild_ratio=cfg.bm25_rebuild_ratio, exact_below=cfg.bm25_exact_below)
        seen: dict[str, tuple[str, bool]] = {}
        for page in self.vectors.pages(col, ns):
            index.upsert([to_doc(it) for it in page])
            seen.update((it.id, (it.text, it.valid_to is not None)) for it in page)
        pending = [r.seq for r in self.ledger.changes_since(ns, level, 0) if not _landed(r, seen.get(r.item_id))]
        index.generation = min(pending) - 1 if pending else gen
        log.info("built BM25 for %r/%s from Chroma: %d docs, %d pending", ns, level, len(index), len(pending))
        return index

    def _catch_up(self, col: Collection, ns: str, level: Level, index: Bm25Index, gen: int) -> bool:
        """Replay the ledger since the index's generation; False when a rebuild is due instead."""
        if index.generation > gen:  # a snapshot from another ledger (the state store was switched)
            return False
        refs = self.ledger.changes_since(ns, level, index.generation)
        if len(refs) > max(1000, len(index) // 2):
            return False
        present = self.vectors.fetch(col, ns, [r.item_id for r in refs])
        pending = [r for r in refs if not landed(r, present.get(r.item_id))]
        settled = {r.item_id for r in refs} - {r.item_id for r in pending}
        index.upsert([to_doc(present[i]) for i in settled if i in present])
        index.remove([i for i in settled if i not in present])
        if pending:
            log.debug("%d change(s) of %r/%s not in Chroma yet; looking again next search", len(pending), ns, level)
            index.generation = min(r.seq for r in pending) - 1
        else:
            index.generation = refs[-1].seq if refs else gen
        return True

    def _touch(self, key: _Key, index: Bm25Index) -> None:
        """Mark ``key`` most recently used and evict beyond the memory budget."""
        budget = int(self.config.bm25_budget_mb * 1024 * 1024)
        with self._guard:
            if key in self._indexes:
                self._indexes.move_to_end(key)
            measured = self._sizes.get(key)
            if measured is None or measured[0] != index.generation:
                self._sizes[key] = (index.generation, index.nbytes())
            total = sum(self._sizes.get(k, (0, 0))[1] for k in self._indexes)
            victims = []
            while total > budget and len(self._indexes) > 1:
                old_key, old = self._indexes.popitem(last=False)
                total -= self._sizes.pop(old_key, (0, 0))[1]
                victims.append((old_key, old))
        for (ns, level), old in victims:
            self.evictions += 1
            log.info("evicting BM25 of %r/%s (%d docs) to stay within %s MB", ns, level, len(old), budget >> 20)
            with self.lock((ns, level)):
                self._save(ns, level, old)

    def path(self, ns: str, level: Level) -> Path:
        """Snapshot file of one index."""
        return self.snapshot_dir / f"{collection_name(ns, level)}.npz"

    def _save(self, ns: str, level: Level, index: Bm25Index) -> None:
        if len(index) < SNAPSHOT_MIN_DOCS or index.generation == index.saved_generation:
            return
        try:
            index.save(self.path(ns, level))
        except OSError as exc:  # a snapshot is an optimisation; never fail over it
            log.warning("could not save the BM25 snapshot of %r/%s: %s", ns, level, exc)

    def cached(self) -> list[tuple[_Key, Bm25Index]]:
        """The indexes in memory, least recently used first."""
        with self._guard:
            return list(self._indexes.items())

    def stats(self, ns: str) -> dict[str, Bm25Stats]:
        """Stats of the namespace's cached indexes, by level."""
        return {lv: idx.stats() for (n, lv), idx in self.cached() if n == ns}

    def close(self) -> None:
        """Save large indexes as snapshots and drop them all."""
        for (ns, level), index in self.cached():
            with self.lock((ns, level)):
                self._save(ns, level, index)
        with self._guard:
            self._indexes.clear()
            self._sizes.clear()
