"""The Chroma-backed ``MemoryStore``: the write path, composed from four small parts.

* ``vectors.py``: Chroma collections (one per namespace and level) and dense search;
* ``agentrag.ledger``: history + provenance in the state store (SQLite or Postgres),
  and the change clock every cache keys on;
* ``sparse.py``: BM25 indexes caught up from the ledger, per-key locks, LRU budget;
* ``hybrid.py``: dense + sparse + fusion, with the validity re-check.

**Write order (crash-consistent).** Every write is: (1) compare with what Chroma
holds, (2) one ledger transaction with the history entries *and* the provenance
edges (edges are re-derived from the items on every add, including unchanged
ones, and inserted idempotently), (3) Chroma, (4) this process's cached BM25.
A kill between any two steps leaves a state that re-running the same call turns
into exactly the state of an uninterrupted run: the ledger skips a replayed entry
identical to the item's latest, edges are insert-or-ignore, Chroma upserts are
idempotent, and other workers' caches treat a ledger change that Chroma does not
show yet as pending (see ``sparse.py``). ``fault_hook`` lets tests kill a write at
each stage: ``ledger``, ``vectors``, ``sparse``.

**Supersede is compare-and-set**: the ledger transaction that records it checks,
under the namespace's write lock, that nobody closed the old item first; of two
workers superseding one fact, one wins and the other gets ``ConflictError`` with
nothing written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection

from agentrag.errors import InputError, MemoryStoreError, NamespaceError
from agentrag.errors import NotFoundError as ItemNotFoundError
from agentrag.faults import guarded
from agentrag.ledger import DERIVED_FROM, SUPERSEDED_BY, Change, Edge, Ledger, content_hash, open_ledger
from agentrag.memory import records
from agentrag.memory.bm25 import Bm25Stats
from agentrag.memory.chroma_client import backend_key, make_client
from agentrag.memory.embedder import Embedder, Vectors, default_embedder, evict_texts
from agentrag.memory.hybrid import HybridSearch
from agentrag.memory.inputs import check_id, check_query, check_text
from agentrag.memory.namespaces import validate_namespace
from agentrag.memory.provenance import ProvenanceGraph
from agentrag.memory.purge import purge_chroma_log, scrub_hnsw_tails
from agentrag.memory.sparse import SparseIndexes, to_doc
from agentrag.memory.store import AddResult, Explanation, HistoryEntry, SearchFilters, SearchMode
from agentrag.memory.vectors import INCLUDE, VectorCollections
from agentrag.settings import EmbeddedChroma, HttpChroma, Settings
from agentrag.types import LEVELS, Hit, Level, MemoryItem, utcnow

log = logging.getLogger(__name__)

_WRITE_BATCH = 5000
"""Items per compare/ledger/Chroma write step (capped by the client's max batch size).

Each Chroma upsert has a fixed cost (its own transaction and index bookkeeping),
and the Rust upsert holds the GIL, so overlap with other Python work buys
little. Measured A/B on 2 cores at load ~15 (two stores, 5,000-item adds
interleaved, precomputed vectors): 1,024-item batches 86-131 items/s against
157-168 with 5,000. Embedding of batch i+1 still overlaps the write of batch i
on large adds; a model embeds ~30 texts/s here, so writing is a few percent of
an add with embedding either way.
"""
STAGES = ("ledger", "vectors", "sparse")
"""Where a write can be interrupted (``fault_hook`` is called with each name before that step)."""


@dataclass
class _Plan:
    """One write batch of one level: the items, then what comparing them to the store decided."""

    level: Level
    col: Collection
    items: list[MemoryItem]
    write: list[MemoryItem] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


class LevelStats(TypedDict):
    """Item counts of one level."""

    valid: int
    total: int


class StoreStats(TypedDict):
    """What ``memory stats`` shows for a namespace."""

    namespace: str
    backend: str
    embedder: str
    levels: dict[str, LevelStats]
    history_entries: int
    provenance_edges: int
    bm25: dict[str, Bm25Stats]


class ChromaStore:
    """``MemoryStore`` on Chroma (embedded or HTTP) with the ledger in the state store (SQLite or Postgres)."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        *,
        client: ClientAPI | None = None,
        ledger: Ledger | None = None,
    ):
        self.settings = settings
        self.embedder: Embedder = embedder or default_embedder(settings.embedder_batch_size)
        self.backend = backend_key(settings.chroma)
        self._root = settings.data_dir / "memory" / self.backend
        self.ledger: Ledger = ledger or open_ledger(settings)
        self.vectors = VectorCollections(client or make_client(settings), self.embedder, self.ledger)
        self.sparse = SparseIndexes(self.vectors, self.ledger, settings.memory, self._root / "bm25")
        self.hybrid = HybridSearch(self.vectors, self.sparse, self._embed, settings.retrieval)
        self.provenance = ProvenanceGraph(self.ledger)
        self.fault_hook: Callable[[str], None] | None = None

    def _stage(self, name: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(name)

    def _col(self, ns: str, level: Level) -> Collection:
        col = self.vectors.collection(ns, level, create=True)
        assert col is not None
        return col

    # -- writes -----------------------------------------------------------------
    @guarded
    def add(self, namespace: str, items: Sequence[MemoryItem], *, actor: str = "system") -> AddResult:
        """Insert or update items (idempotent by id); see ``MemoryStore.add``.

        For an item already stored, the store owns its lifecycle fields (ingestion
        time, validity, successor, version): re-ingesting a superseded fact does not
        bring it back, and changed content bumps the version and logs before/after.
        """
        ns = validate_namespace(namespace)
        batch = self._without_forgotten_parents(ns, self._check_items(ns, items))
        plans: list[_Plan] = []
        for level in LEVELS:
            group = [it for it in batch if it.level == level]
            if group:
                col, step = self._col(ns, level), min(self.vectors.max_batch, _WRITE_BATCH)
                plans += [_Plan(level, col, group[i : i + step]) for i in range(0, len(group), step)]
        self._run_plans(ns, plans, actor)
        return AddResult(
            added=tuple(i for p in plans for i in p.added),
            unchanged=tuple(i for p in plans for i in p.unchanged),
            updated=tuple(i for p in plans for i in p.updated),
        )

    def _run_plans(self, ns: str, plans: list[_Plan], actor: str) -> None:
        """Compare, embed and write batch by batch, embedding batch i+1 while batch i is written.

        The model and Chroma's index both want the CPU; overlapping them keeps
        ingest close to the embedder's own throughput instead of the sum of both.
        """
        if not plans:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed") as pool:
            self._compare(ns, plans[0])
            pending = pool.submit(self._embed, [it.text for it in plans[0].write])
            for i, plan in enumerate(plans):
                vectors = pending.result()
                if i + 1 < len(plans):
                    self._compare(ns, plans[i + 1])
                    pending = pool.submit(self._embed, [it.text for it in plans[i + 1].write])
                edges = [Edge(it.id, parent, DERIVED_FROM) for it in plan.items for parent in it.parents]
                reparent = [c.item_id for c in plan.changes if c.event == "update"]
                self._write(ns, plan.level, plan.col, plan.write, vectors, plan.changes, actor, edges, reparent)

    def _without_forgotten_parents(self, ns: str, batch: list[MemoryItem]) -> list[MemoryItem]:
        """Drop derived items whose source was forgotten while they were being derived.

        Background derivation reads a raw turn, calls the generator for seconds, then
        writes facts quoting it; a ``forget`` of the turn in between would otherwise
        leave those facts (and the forgotten text in them) behind, with provenance
        pointing at a tombstone. Checked against the history, so a parent that merely
        is not stored yet (same batch, or a test's made-up id) does not count.
        """
        parents = {p for it in batch if it.level != "raw" for p in it.parents}
        gone = {p for p in parents if (last := self.ledger.latest(ns, p)) is not None and last.event == "forget"}
        if not gone:
            return batch
        kept = [it for it in batch if not gone.intersection(it.parents)]
        log.info("%s: %d derived item(s) not stored: their source was forgotten meanwhile", ns, len(batch) - len(kept))
        return kept

    def _check_items(self, ns: str, items: Sequence[MemoryItem]) -> list[MemoryItem]:
        if isinstance(items, MemoryItem | str) or not isinstance(items, Sequence):
            raise InputError("add() takes a sequence of MemoryItem")
        seen: dict[str, MemoryItem] = {}
        for item in items:
            if not isinstance(item, MemoryItem):
                raise InputError(f"add() takes MemoryItem values, got {type(item).__name__}")
            if item.namespace != ns:
                raise NamespaceError(f"item {item.id} belongs to namespace {item.namespace!r}, not {ns!r}")
            check_id(item.id)
            check_text(item.text, what=f"text of item {item.id}", max_chars=self.settings.memory.max_item_chars)
            norm = records.normalise(item)
            prev = seen.get(item.id)
            if prev is not None and not records.same_content(prev, norm):
                raise InputError(f"item id {item.id} appears twice in one add with different content")
            seen[item.id] = norm
        return list(seen.values())

    def _compare(self, ns: str, plan: _Plan) -> None:
        """Sort a batch into added / unchanged / updated against what is stored."""
        existing = self.vectors.fetch(plan.col, ns, [it.id for it in plan.items])
        for it in plan.items:
            old = existing.get(it.id)
            if old is None:
                plan.write.append(it)
                plan.changes.append(Change(it.id, plan.level, "add", reason="added", after=it.text))
                plan.added.append(it.id)
            elif records.same_content(old, it):
                plan.unchanged.append(it.id)
            else:
                keep = {
                    "ingested_at": old.ingested_at,
                    "valid_from": old.valid_from,
                    "valid_to": old.valid_to,
                    "superseded_by": old.superseded_by,
                    "version": old.version + 1,
                }
                plan.write.append(it.model_copy(update=keep))
                reason = "changed " + ", ".join(records.content_diff(old, it))
                plan.changes.append(Change(it.id, plan.level, "update", reason=reason, before=old.text, after=it.text))
                plan.updated.append(it.id)

    def _embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        vecs = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        if vecs.shape != (len(texts), self.embedder.dim):
            raise MemoryStoreError(
                f"embedder {self.embedder.name} returned shape {vecs.shape}, expected ({len(texts)}, "
                f"{self.embedder.dim})"
            )
        return vecs

    def _write(
        self,
        ns: str,
        level: Level,
        col: Collection,
        items: Sequence[MemoryItem],
        vectors: Vectors | None,
        changes: Sequence[Change],
        actor: str,
        edges: Sequence[Edge] = (),
        reparent: Sequence[str] = (),
        open_ids: Sequence[str] = (),
    ) -> None:
        """Ledger (history + edges, one transaction), then Chroma, then this process's BM25 index.

        ``vectors=None`` updates metadata only (validity changes keep their embedding).
        """
        if not items and not edges:
            return
        self._stage("ledger")
        seqs = self.ledger.append(ns, changes, actor=actor, edges=edges, reparent=reparent, open_ids=open_ids)
        if not items:
            return
        self._stage("vectors")
        self.vectors.write(col, items, vectors, fresh={c.item_id for c in changes if c.event == "add"})
        self._stage("sparse")
        self.sparse.apply(ns, level, [to_doc(it) for it in items], (), seqs)

    @guarded
    def supersede(
        self, namespace: str, old_id: str, new_item: MemoryItem, *, reason: str, actor: str = "refresher"
    ) -> MemoryItem:
        """Close ``old_id``'s validity and store ``new_item`` as its successor; never deletes.

        Compare-and-set: if another writer closed ``old_id`` first, ``ConflictError``
        and nothing is written. Safe to re-run: if ``old_id`` already points at
        ``new_item.id`` the stored successor is returned (finishing a half-done one).
        """
        ns = validate_namespace(namespace)
        check_id(old_id)
        reason = check_text(reason, what="reason", max_chars=2000)
        if new_item.id == old_id:
            raise InputError(f"an item cannot supersede itself ({old_id})")
        old = self._get_one(ns, old_id)
        if old.superseded_by is not None and old.superseded_by != new_item.id:
            raise MemoryStoreError(f"{old_id} was already superseded by {old.superseded_by}; supersede that instead")
        if old.superseded_by is None and old.valid_to is not None:
            raise MemoryStoreError(f"{old_id} was invalidated at {old.valid_to.isoformat()}; it has no current version")
        existing = self.get(ns, [new_item.id])
        if existing:
            new, write_new = existing[0], False
        else:
            switch = max(records.as_utc(new_item.valid_from), old.valid_from)
            candidate = new_item.model_copy(update={"version": old.version + 1, "valid_from": switch})
            new, write_new = self._check_items(ns, [candidate])[0], True
        if old.superseded_by is not None:
            return new
        changes = [
            Change(old.id, old.level, "supersede", reason=reason, before=old.text, after=new.text, related_id=new.id)
        ]
        if write_new:
            add = Change(
                new.id, new.level, "add", reason=f"supersedes {old_id}: {reason}", after=new.text, related_id=old_id
            )
            changes.insert(0, add)
        edges = [Edge(new.id, p, DERIVED_FROM) for p in new.parents] + [Edge(old.id, new.id, SUPERSEDED_BY)]
        self._stage("ledger")
        seqs = self.ledger.append(ns, changes, actor=actor, edges=edges, open_ids=[old.id])
        self._stage("vectors")
        closed = old.model_copy(update={"valid_to": new.valid_from, "superseded_by": new.id})
        if write_new:
            self.vectors.write(self._col(ns, new.level), [new], self._embed([new.text]), fresh={new.id})
        self.vectors.write(self._col(ns, old.level), [closed], None, fresh=set())
        self._stage("sparse")
        for level in dict.fromkeys((new.level, old.level)):
            docs = [to_doc(it) for it in ((new,) if write_new else ()) + (closed,) if it.level == level]
            self.sparse.apply(ns, level, docs, (), seqs)
        return new

    @guarded
    def invalidate(self, namespace: str, item_id: str, *, reason: str, actor: str = "system") -> MemoryItem:
        """Close an item's validity without a successor; an already closed item is returned as is."""
        ns = validate_namespace(namespace)
        check_id(item_id)
        reason = check_text(reason, what="reason", max_chars=2000)
        old = self._get_one(ns, item_id)
        if old.valid_to is not None:
            return old
        latest = self.ledger.latest(ns, item_id)
        # Finishing a half-done invalidate keeps the time it was first recorded at.
        at = latest.at if latest is not None and latest.event == "invalidate" else utcnow()
        closed = old.model_copy(update={"valid_to": max(records.as_utc(at), old.valid_from)})
        change = Change(old.id, old.level, "invalidate", reason=reason, before=old.text)
        self._write(ns, old.level, self._col(ns, old.level), [closed], None, [change], actor, open_ids=[old.id])
        return closed

    @guarded
    def forget(
        self, namespace: str, ids: Sequence[str], *, reason: str, actor: str = "user", cascade: bool = True
    ) -> int:
        """Hard-delete items and what was derived from them; see ``forget_items``."""
        return len(self.forget_items(namespace, ids, reason=reason, actor=actor, cascade=cascade))

    @guarded
    def forget_items(
        self, namespace: str, ids: Sequence[str], *, reason: str, actor: str = "user", cascade: bool = True
    ) -> list[MemoryItem]:
        """Hard-delete items and everything derived from them; the history keeps only tombstones.

        The only hard delete, and a thorough one: with ``cascade`` the facts and
        episodes derived from the items (transitively, through provenance) go too;
        the ledger records one ``forget`` entry per item (id, content hash, reason,
        actor, time) and erases the text of its earlier entries; Chroma's records,
        its log rows and free pages, the BM25 index and snapshot, and the embedding
        caches lose the text. Returns the items deleted (callers erase runs that quoted them).

        **Crash order.** Derived items go first and the named ones last, and the
        provenance edges are dropped only with the named ones: until then every
        doomed item stays reachable from ``ids``, so re-running the same call after a
        kill finds what is left. (Dropping a level's edges before deleting the next
        level would strand its items: a re-run could no longer find them.) Before the
        edges go, the derived items' Chroma log rows and history text are erased too;
        the purges at the end run for every id still known, found or not, and vacuum
        the files whole, so what a killed run left in free pages goes as well.
        """
        ns = validate_namespace(namespace)
        if isinstance(ids, str):
            raise InputError("forget() takes a sequence of ids, not one string")
        named = [check_id(i) for i in dict.fromkeys(ids)]
        reason = check_text(reason, what="reason", max_chars=2000)
        wanted = self.doomed_ids(ns, named, cascade=cascade)
        found = self.get(ns, wanted)
        top = set(named)
        derived = [i for i in wanted if i not in top]
        self._erase(ns, [it for it in found if it.id not in top], reason, actor, unlink=())
        if derived:
            self._purge_chroma(ns, derived, compact=False)
            self.ledger.scrub(ns, derived)
        self._erase(ns, [it for it in found if it.id in top], reason, actor, unlink=wanted)
        # Erasing is idempotent: a re-run after a crash finishes it even when nothing is left to delete.
        if set(wanted) - {it.id for it in found}:  # a crashed earlier run deleted some: its snapshots may hold them
            for level in LEVELS:
                if self.sparse.path(ns, level).exists():
                    self.sparse.drop(ns, level)
        # An id memory never held (no item, no history) leaves nothing to purge: touching Chroma's file
        # then would rewrite it for nothing (a forget of an unknown id writes nothing).
        seen = {it.id for it in found}
        ever = [i for i in wanted if i in seen or self.ledger.entries(ns, i)]
        if ever:
            self._purge_chroma(ns, ever)
            self.ledger.scrub(ns, ever)
        evict_texts(self.embedder, [it.text for it in found])
        return found

    def doomed_ids(self, namespace: str, ids: Sequence[str], *, cascade: bool = True) -> list[str]:
        """The ids ``forget_items(ids)`` erases: ``ids`` and, with ``cascade``, everything derived from them."""
        ns = validate_namespace(namespace)
        named = [check_id(i) for i in dict.fromkeys(ids)]
        return self._with_descendants(ns, named) if cascade else named

    def _erase(
        self, ns: str, gone: Sequence[MemoryItem], reason: str, actor: str, unlink: Sequence[str]
    ) -> None:
        """Per level: tombstones in the ledger (the first append also drops ``unlink``'s edges), then Chroma, BM25."""
        unlinked = False
        for level in LEVELS:
            batch = [it for it in gone if it.level == level]
            col = self.vectors.collection(ns, level, create=False)
            if not batch or col is None:
                continue
            changes = [Change(it.id, level, "forget", reason=reason, before=content_hash(it.text)) for it in batch]
            self._stage("ledger")
            self.ledger.append(ns, changes, actor=actor, remove_nodes=() if unlinked else unlink)
            unlinked = True
            self._stage("vectors")
            col.delete(ids=[it.id for it in batch])
            self._stage("sparse")
            self.sparse.drop(ns, level)
        if unlink and not unlinked:  # nothing named was left to delete; edges of a half-written add may be
            doomed = set(unlink)
            if any(e.src in doomed or e.dst in doomed for e in self.ledger.edges(ns)):
                self.ledger.append(ns, [], actor=actor, remove_nodes=unlink)

    @guarded
    def forget_all(self, namespace: str, *, reason: str, actor: str = "user") -> list[MemoryItem]:
        """Forget every item of a namespace (one end user, entirely), at every level and version."""
        ns = validate_namespace(namespace)
        ids: list[str] = []
        for level in LEVELS:
            col = self.vectors.collection(ns, level, create=False)
            if col is not None:
                ids += col.get(include=[])["ids"]
        gone = self.forget_items(ns, ids, reason=reason, actor=actor, cascade=False)
        for level in LEVELS:
            self.sparse.drop(ns, level)
        # The (now empty) collections stay: other workers hold handles to them, and dropping one
        # under them would turn their next read into an error rather than an empty namespace.
        return gone

    def _with_descendants(self, ns: str, ids: Sequence[str]) -> list[str]:
        """``ids`` and every item derived from them, transitively (``derived_from`` edges point child -> parent)."""
        children: dict[str, list[str]] = {}
        for e in self.ledger.edges(ns):
            if e.kind == DERIVED_FROM:
                children.setdefault(e.dst, []).append(e.src)
        out = list(ids)
        seen = set(out)
        for item_id in out:  # (grows while iterating: a breadth-first walk)
            for child in children.get(item_id, ()):
                if child not in seen:
                    seen.add(child)
                    out.append(child)
        return out

    def _purge_chroma(self, ns: str, ids: Sequence[str], *, compact: bool = True) -> None:
        """Chroma keeps deleted text in its log table and free pages: erase it (see ``purge.py``).

        Run for every doomed id in every collection of the namespace, whether this
        call deleted it or a crashed earlier one did (then only its log rows are left).
        A Chroma server's files are reachable only when it runs on this machine and
        ``chroma.purge_path`` names its ``--path``; otherwise its operator must purge.
        """
        cols = [c for c in (self.vectors.collection(ns, lv, create=False) for lv in LEVELS) if c is not None]
        if not ids or not cols:
            return
        match self.settings.chroma:
            case EmbeddedChroma():
                root: Path | None = (self.settings.data_dir / "chroma").resolve()
            case HttpChroma(purge_path=root):
                if root is None:
                    log.warning("forget: the Chroma server keeps deleted text until purged (set chroma.purge_path)")
        if root is not None:
            purge_chroma_log(root / "chroma.sqlite3", [str(c.id) for c in cols], ids, compact=compact)
            if compact:  # every collection's files: heap garbage is not scoped by tenant
                scrub_hnsw_tails(root)

    # -- reads ------------------------------------------------------------------
    @guarded
    def get(self, namespace: str, ids: Sequence[str]) -> list[MemoryItem]:
        """Items by id in the order asked; unknown ids (including other tenants') are absent."""
        ns = validate_namespace(namespace)
        if isinstance(ids, str):
            raise InputError("get() takes a sequence of ids, not one string")
        wanted = [check_id(i) for i in ids]
        found: dict[str, MemoryItem] = {}
        # Ids made by ``item_id`` start with their level's letter: look there first.
        for level in sorted(LEVELS, key=lambda lv: -sum(1 for i in wanted if i.startswith(lv[0] + "-"))):
            todo = [i for i in dict.fromkeys(wanted) if i not in found]
            if not todo:
                break
            col = self.vectors.collection(ns, level, create=False)
            if col is not None:
                found.update(self.vectors.fetch(col, ns, todo))
        return [found[i] for i in wanted if i in found]

    def _get_one(self, ns: str, item_id: str) -> MemoryItem:
        got = self.get(ns, [item_id])
        if not got:
            raise ItemNotFoundError(f"no item {item_id!r} in namespace {ns!r}")
        return got[0]

    @guarded
    def current_ids_of_source(self, namespace: str, source_id: str, level: Level = "raw") -> set[str]:
        """Ids of the currently valid items of one source (a document): what re-ingesting it may retire."""
        ns = validate_namespace(namespace)
        col = self.vectors.collection(ns, level, create=False)
        if col is None:
            return set()
        where = records.where(SearchFilters(source_id=source_id), utcnow())
        return set(col.get(where=where, include=[])["ids"])

    @guarded
    def namespaces(self) -> dict[str, int]:
        """Every namespace that has collections here, with its count of currently valid items."""
        names: set[str] = set()
        for col in self.vectors.client.list_collections():
            ns = (col.metadata or {}).get("agentrag_namespace")
            if isinstance(ns, str):
                names.add(ns)
        return {ns: self.count(ns) for ns in sorted(names)}

    @guarded
    def count(self, namespace: str, level: Level | None = None, *, include_invalid: bool = False) -> int:
        """How many items a namespace holds (currently valid only, by default)."""
        ns = validate_namespace(namespace)
        total = 0
        where = None if include_invalid else records.where(SearchFilters(), utcnow())
        for lv in (level,) if level is not None else LEVELS:
            col = self.vectors.collection(ns, lv, create=False)
            if col is None:
                continue
            total += col.count() if where is None else len(col.get(where=where, include=[])["ids"])
        return total

    @guarded
    def history(self, namespace: str, item_id: str) -> list[HistoryEntry]:
        """Every recorded change to an item, oldest first (also for forgotten items)."""
        ns = validate_namespace(namespace)
        return self.ledger.entries(ns, check_id(item_id))

    @guarded
    def explain(self, namespace: str, item_id: str) -> Explanation:
        """Provenance down to the raw text, the successors that replaced it, and its history."""
        ns = validate_namespace(namespace)
        item = self._get_one(ns, check_id(item_id))
        graph = self.provenance.graph(ns)
        return Explanation(
            item=item,
            derived_from=tuple(self.get(ns, self.provenance.ancestors(graph, item.id))),
            superseded_by=tuple(self.get(ns, self.provenance.successors(graph, item.id))),
            supersedes=tuple(self.get(ns, self.provenance.predecessors(graph, item.id))),
            history=tuple(self.ledger.entries(ns, item.id)),
        )

    @guarded
    def search(
        self,
        namespace: str,
        query: str,
        *,
        k: int = 5,
        filters: SearchFilters | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        """Best ``k`` items for ``query``: dense (Chroma), sparse (BM25) or both fused; see ``hybrid.py``."""
        ns = validate_namespace(namespace)
        return self.hybrid.search(ns, check_query(query), k, filters or SearchFilters(), mode)

    # -- admin ------------------------------------------------------------------
    @guarded
    def stats(self, namespace: str) -> StoreStats:
        """Counts per level, history size, provenance size and BM25 state of a namespace."""
        ns = validate_namespace(namespace)
        levels: dict[str, LevelStats] = {}
        for lv in LEVELS:
            levels[lv] = LevelStats(valid=self.count(ns, lv), total=self.count(ns, lv, include_invalid=True))
        return StoreStats(
            namespace=ns,
            backend=self.backend,
            embedder=self.embedder.name,
            levels=levels,
            history_entries=self.ledger.count(ns),
            provenance_edges=self.provenance.graph(ns).number_of_edges(),
            bm25=self.sparse.stats(ns),
        )

    def close(self) -> None:
        """Save BM25 snapshots, release the ledger and caches (the Chroma client is shared and left open)."""
        self.sparse.close()
        self.vectors.forget_cached()
        self.ledger.close()

    @guarded
    def list(
        self,
        namespace: str,
        level: Level | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
        include_invalid: bool = False,
    ) -> list[MemoryItem]:
        """Items of a namespace in insertion order (across levels: by ingestion time).

        Defined last in the class: inside the class body ``list`` names this method.
        """
        ns = validate_namespace(namespace)
        if limit < 0 or offset < 0:
            raise InputError("limit and offset must be >= 0")
        where = None if include_invalid else records.where(SearchFilters(), utcnow())
        levels: tuple[Level, ...] = (level,) if level is not None else LEVELS
        out: list[MemoryItem] = []
        for lv in levels:
            col = self.vectors.collection(ns, lv, create=False)
            if col is None:
                continue
            if len(levels) == 1:
                res = col.get(where=where, limit=limit, offset=offset, include=INCLUDE)
            else:
                res = col.get(where=where, limit=offset + limit, include=INCLUDE)
            out += self.vectors.decode(ns, res["ids"], res["documents"], res["metadatas"])
        if len(levels) == 1:
            return out
        out.sort(key=lambda it: it.ingested_at)
        return out[offset : offset + limit]
