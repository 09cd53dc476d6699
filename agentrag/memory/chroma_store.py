"""The Chroma-backed ``MemoryStore``: levels, history, provenance and hybrid search.

Layout. One Chroma collection per namespace and level (``agentrag-<level>-<hash>``),
with the namespace also stamped on every record and checked on every read. A
shared per-level collection filtered by a ``where`` on the namespace was measured
at ~40 ms per query with 10k matching records (Chroma resolves the filter to an
allow-list before the vector search) against ~4 ms unfiltered; a collection per
namespace makes tenancy physical and keeps dense search on the fast path.

Writes go history-first (see ``history.py``), then Chroma, then provenance
edges and any loaded BM25 index, all under one lock. Embeddings are always
computed by the store's ``Embedder`` and passed explicitly.

State beside Chroma lives in ``<data_dir>/memory/<backend>/``: ``memory.sqlite3``
(history and provenance) and ``bm25/`` (snapshots of large BM25 indexes, saved
on ``close`` and brought up to date from the history log when reopened).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.errors import NotFoundError

from agentrag.errors import InputError, MemoryStoreError, NamespaceError
from agentrag.errors import NotFoundError as ItemNotFoundError
from agentrag.memory import records
from agentrag.memory.bm25 import Bm25Filter, Bm25Index, Bm25Stats, Doc
from agentrag.memory.chroma_client import backend_key, collection_name, make_client
from agentrag.memory.embedder import Embedder, Vectors, default_embedder
from agentrag.memory.fusion import interpolate, rrf
from agentrag.memory.history import Change, HistoryLog, connect
from agentrag.memory.inputs import check_id, check_query, check_text
from agentrag.memory.namespaces import validate_namespace
from agentrag.memory.provenance import DERIVED_FROM, SUPERSEDED_BY, ProvenanceGraph
from agentrag.memory.store import AddResult, Explanation, HistoryEntry, SearchFilters, SearchMode
from agentrag.settings import Settings
from agentrag.types import LEVELS, Hit, Level, MemoryItem, utcnow

log = logging.getLogger(__name__)

_INCLUDE: Any = ["documents", "metadatas"]
_WRITE_BATCH = 1024  # small enough that embedding and writing overlap on typical adds
_MAX_K = 1000
_PAGE = 5000
_SNAPSHOT_MIN_DOCS = 2000  # smaller BM25 indexes rebuild from Chroma in well under a second


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
    """``MemoryStore`` on Chroma (embedded or HTTP), with SQLite history and networkx provenance."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, *, client: ClientAPI | None = None):
        self.settings = settings
        self.embedder: Embedder = embedder or default_embedder(settings.embedder_batch_size)
        self._client = client or make_client(settings)
        self._max_batch = max(1, int(self._client.get_max_batch_size()))
        self.backend = backend_key(settings.chroma)
        self._root = settings.data_dir / "memory" / self.backend
        self._db = connect(self._root / "memory.sqlite3")
        self._history = HistoryLog(self._db)
        self._prov = ProvenanceGraph(self._db)
        self._collections: dict[tuple[str, Level], Collection] = {}
        self._bm25: dict[tuple[str, Level], Bm25Index] = {}
        self._missing: dict[tuple[str, Level], int] = {}
        self._lock = threading.RLock()

    # -- collections ------------------------------------------------------------
    def _collection(self, ns: str, level: Level, *, create: bool) -> Collection | None:
        key = (ns, level)
        col = self._collections.get(key)
        if col is not None:
            return col
        name = collection_name(ns, level)
        if create:
            col = self._client.get_or_create_collection(
                name,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={
                    "agentrag_namespace": ns,
                    "agentrag_level": level,
                    "embedder": self.embedder.name,
                    "dim": self.embedder.dim,
                },
                embedding_function=None,
            )
        else:
            # A level never written is looked up on every search; remember the miss until the
            # namespace's history moves (every write, from any process, appends history first).
            gen = self._history.last_seq(ns)
            if self._missing.get(key) == gen:
                return None
            try:
                col = self._client.get_collection(name, embedding_function=None)
            except NotFoundError:
                self._missing[key] = gen
                return None
        md = col.metadata or {}
        if md.get("agentrag_namespace") != ns or md.get("agentrag_level") != level:
            raise MemoryStoreError(f"collection {name} belongs to {md.get('agentrag_namespace')!r}, not {ns!r}")
        if md.get("embedder") != self.embedder.name:
            raise MemoryStoreError(
                f"namespace {ns!r} was written with embedder {md.get('embedder')!r}; this store embeds with "
                f"{self.embedder.name!r}, and mixing vector spaces would return nonsense"
            )
        self._collections[key] = col
        return col

    def _decode(
        self, ns: str, ids: Sequence[str], docs: Sequence[Any] | None, mds: Sequence[Any] | None
    ) -> list[MemoryItem]:
        out = []
        for item_id, doc, md in zip(ids, docs or [], mds or [], strict=True):
            if md is None or md.get("ns") != ns:  # defence in depth: never hand out another tenant's record
                log.error("record %s in a collection of %r is stamped %r; skipped", item_id, ns, md and md.get("ns"))
                continue
            out.append(records.from_record(item_id, doc, md))
        return out

    def _fetch(self, col: Collection, ns: str, ids: Sequence[str]) -> dict[str, MemoryItem]:
        found: dict[str, MemoryItem] = {}
        for i in range(0, len(ids), self._max_batch):
            res = col.get(ids=list(ids[i : i + self._max_batch]), include=_INCLUDE)
            for item in self._decode(ns, res["ids"], res["documents"], res["metadatas"]):
                found[item.id] = item
        return found

    # -- writes -----------------------------------------------------------------
    def add(self, namespace: str, items: Sequence[MemoryItem], *, actor: str = "system") -> AddResult:
        """Insert or update items (idempotent by id); see ``MemoryStore.add``.

        For an item already stored, the store owns its lifecycle fields (ingestion
        time, validity, successor, version): re-ingesting a superseded fact does not
        bring it back, and changed content bumps the version and logs before/after.
        """
        ns = validate_namespace(namespace)
        batch = self._check_items(ns, items)
        plans: list[_Plan] = []
        for level in LEVELS:
            group = [it for it in batch if it.level == level]
            if not group:
                continue
            col = self._collection(ns, level, create=True)
            assert col is not None
            step = min(self._max_batch, _WRITE_BATCH)
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
                if plan.write:
                    self._write(ns, plan.level, plan.col, plan.write, vectors, plan.changes, actor)

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
        existing = self._fetch(plan.col, ns, [it.id for it in plan.items])
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
        extra_edges: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """History, then Chroma, then provenance and BM25, under the store lock.

        ``vectors=None`` updates metadata only (validity changes keep their embedding).
        """
        with self._lock:
            gen_ns, gen_level = self._history.last_seq(ns), self._history.last_seq(ns, level)
            self._history.append(ns, changes, actor=actor)
            ids = [it.id for it in items]
            fresh = {c.item_id for c in changes if c.event == "add"}
            metadatas: Any = [records.to_metadata(it, new=it.id in fresh) for it in items]
            if vectors is None:
                col.update(ids=ids, metadatas=metadatas)
            else:
                col.upsert(ids=ids, embeddings=vectors, documents=[it.text for it in items], metadatas=metadatas)
            edges = [(it.id, parent, DERIVED_FROM) for it in items for parent in it.parents]
            edges += extra_edges
            reparent = [c.item_id for c in changes if c.event == "update"]
            self._prov.add_edges(ns, edges, before=gen_ns, after=self._history.last_seq(ns), reparent=reparent)
            index = self._bm25.get((ns, level))
            if index is not None and index.generation == gen_level:  # else the next search catches up
                index.upsert([_doc(it) for it in items])
                index.generation = self._history.last_seq(ns, level)

    def supersede(
        self, namespace: str, old_id: str, new_item: MemoryItem, *, reason: str, actor: str = "refresher"
    ) -> MemoryItem:
        """Close ``old_id``'s validity and store ``new_item`` as its successor; never deletes.

        Safe to re-run: if ``old_id`` already points at ``new_item.id`` the stored
        successor is returned (finishing a half-done supersede if needed).
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
            new = existing[0]
        else:
            switch = max(records.as_utc(new_item.valid_from), old.valid_from)
            candidate = new_item.model_copy(update={"version": old.version + 1, "valid_from": switch})
            self._check_items(ns, [candidate])
            new = records.normalise(candidate)
            col = self._collection(ns, new.level, create=True)
            assert col is not None
            self._write(
                ns,
                new.level,
                col,
                [new],
                self._embed([new.text]),
                [
                    Change(
                        new.id,
                        new.level,
                        "add",
                        reason=f"supersedes {old_id}: {reason}",
                        after=new.text,
                        related_id=old_id,
                    )
                ],
                actor,
            )
        if old.superseded_by is None:
            closed = old.model_copy(update={"valid_to": new.valid_from, "superseded_by": new.id})
            self._close(
                ns,
                closed,
                Change(
                    old.id, old.level, "supersede", reason=reason, before=old.text, after=new.text, related_id=new.id
                ),
                actor,
                edge=(old.id, new.id, SUPERSEDED_BY),
            )
        return new

    def invalidate(self, namespace: str, item_id: str, *, reason: str, actor: str = "system") -> MemoryItem:
        """Close an item's validity without a successor; an already closed item is returned as is."""
        ns = validate_namespace(namespace)
        check_id(item_id)
        reason = check_text(reason, what="reason", max_chars=2000)
        old = self._get_one(ns, item_id)
        if old.valid_to is not None:
            return old
        closed = old.model_copy(update={"valid_to": max(utcnow(), old.valid_from)})
        self._close(ns, closed, Change(old.id, old.level, "invalidate", reason=reason, before=old.text), actor)
        return closed

    def _close(
        self, ns: str, closed: MemoryItem, change: Change, actor: str, edge: tuple[str, str, str] | None = None
    ) -> None:
        col = self._collection(ns, closed.level, create=False)
        if col is None:
            raise MemoryStoreError(f"no {closed.level} collection for namespace {ns!r}")
        self._write(ns, closed.level, col, [closed], None, [change], actor, extra_edges=[edge] if edge else [])
        log.debug("closed %s in %r: %s", closed.id, ns, change.event)

    def forget(self, namespace: str, ids: Sequence[str], *, reason: str, actor: str = "user") -> int:
        """Hard-delete items (the only hard delete); each deletion is logged with the text it removed."""
        ns = validate_namespace(namespace)
        if isinstance(ids, str):
            raise InputError("forget() takes a sequence of ids, not one string")
        wanted = [check_id(i) for i in dict.fromkeys(ids)]
        reason = check_text(reason, what="reason", max_chars=2000)
        found = self.get(ns, wanted)
        for level in LEVELS:
            gone = [it for it in found if it.level == level]
            col = self._collection(ns, level, create=False)
            if not gone or col is None:
                continue
            gone_ids = [it.id for it in gone]
            with self._lock:
                gen_ns, gen_level = self._history.last_seq(ns), self._history.last_seq(ns, level)
                self._history.append(
                    ns, [Change(it.id, level, "forget", reason=reason, before=it.text) for it in gone], actor=actor
                )
                col.delete(ids=gone_ids)
                self._prov.remove_nodes(ns, gone_ids, before=gen_ns, after=self._history.last_seq(ns))
                index = self._bm25.get((ns, level))
                if index is not None and index.generation == gen_level:
                    index.remove(gone_ids)
                    index.generation = self._history.last_seq(ns, level)
        return len(found)

    # -- reads ------------------------------------------------------------------
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
            col = self._collection(ns, level, create=False)
            if col is not None:
                found.update(self._fetch(col, ns, todo))
        return [found[i] for i in wanted if i in found]

    def _get_one(self, ns: str, item_id: str) -> MemoryItem:
        got = self.get(ns, [item_id])
        if not got:
            raise ItemNotFoundError(f"no item {item_id!r} in namespace {ns!r}")
        return got[0]

    def current_ids_of_source(self, namespace: str, source_id: str, level: Level = "raw") -> set[str]:
        """Ids of the currently valid items of one source (a document): what re-ingesting it may retire."""
        ns = validate_namespace(namespace)
        col = self._collection(ns, level, create=False)
        if col is None:
            return set()
        where = records.where(SearchFilters(source_id=source_id), utcnow())
        return set(col.get(where=where, include=[])["ids"])

    def namespaces(self) -> dict[str, int]:
        """Every namespace that has collections here, with its count of currently valid items."""
        names: set[str] = set()
        for col in self._client.list_collections():
            ns = (col.metadata or {}).get("agentrag_namespace")
            if isinstance(ns, str):
                names.add(ns)
        return {ns: self.count(ns) for ns in sorted(names)}

    def count(self, namespace: str, level: Level | None = None, *, include_invalid: bool = False) -> int:
        """How many items a namespace holds (currently valid only, by default)."""
        ns = validate_namespace(namespace)
        total = 0
        where = None if include_invalid else records.where(SearchFilters(), utcnow())
        for lv in (level,) if level is not None else LEVELS:
            col = self._collection(ns, lv, create=False)
            if col is None:
                continue
            total += col.count() if where is None else len(col.get(where=where, include=[])["ids"])
        return total

    def history(self, namespace: str, item_id: str) -> list[HistoryEntry]:
        """Every recorded change to an item, oldest first (also for forgotten items)."""
        ns = validate_namespace(namespace)
        return self._history.entries(ns, check_id(item_id))

    def explain(self, namespace: str, item_id: str) -> Explanation:
        """Provenance down to the raw text, the successors that replaced it, and its history."""
        ns = validate_namespace(namespace)
        item = self._get_one(ns, check_id(item_id))
        graph = self._prov.graph(ns, self._history.last_seq(ns))
        ancestors = self._prov.ancestors(graph, item.id)
        successors = self._prov.successors(graph, item.id)
        predecessors = self._prov.predecessors(graph, item.id)
        return Explanation(
            item=item,
            derived_from=tuple(self.get(ns, ancestors)),
            superseded_by=tuple(self.get(ns, successors)),
            supersedes=tuple(self.get(ns, predecessors)),
            history=tuple(self._history.entries(ns, item.id)),
        )

    # -- search -----------------------------------------------------------------
    def search(
        self,
        namespace: str,
        query: str,
        *,
        k: int = 5,
        filters: SearchFilters | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        """Best ``k`` items for ``query``: dense (Chroma), sparse (BM25) or both fused.

        Fusion is ``settings.retrieval.fusion`` (RRF or interpolation). Each list
        contributes up to ``max(2k, 20)`` candidates per level.
        """
        ns = validate_namespace(namespace)
        query = check_query(query)
        if not isinstance(k, int) or not 1 <= k <= _MAX_K:
            raise InputError(f"k must be an integer between 1 and {_MAX_K}, got {k!r}")
        if mode not in ("dense", "sparse", "hybrid"):
            raise InputError(f"unknown search mode {mode!r}; valid choices: dense, hybrid, sparse")
        filters = filters or SearchFilters()
        now = utcnow()
        depth = max(2 * k, 20)
        dense: dict[str, tuple[float, MemoryItem]] = {}
        sparse: dict[str, tuple[float, Level]] = {}
        qvec: Vectors | None = None
        for level in dict.fromkeys(filters.levels):
            col = self._collection(ns, level, create=False)
            if col is None:
                continue
            if mode != "sparse":
                if qvec is None:
                    qvec = self._embed([query])
                for item, sim in self._dense(col, ns, qvec, depth, filters, now):
                    dense[item.id] = (sim, item)
            if mode != "dense":
                for item_id, score in self._sparse(col, ns, level, query, depth, filters, now):
                    sparse[item_id] = (score, level)
        d_rank = sorted(dense, key=lambda i: -dense[i][0])[:depth]
        s_rank = sorted(sparse, key=lambda i: -sparse[i][0])[:depth]
        fused = self._fuse(mode, d_rank, s_rank, dense, sparse)[:k]
        items = {i: dense[i][1] for i in d_rank if i in dense}
        missing = [i for i, _ in fused if i not in items]
        if missing:
            items.update({it.id: it for it in self.get(ns, missing)})
        hits: list[Hit] = []
        for item_id, score in fused:
            if item_id not in items:  # forgotten between the two reads
                continue
            hits.append(
                Hit(
                    item=items[item_id],
                    score=score,
                    rank=len(hits) + 1,
                    dense_score=dense[item_id][0] if item_id in dense else None,
                    sparse_score=sparse[item_id][0] if item_id in sparse else None,
                )
            )
        return hits

    def _fuse(
        self,
        mode: SearchMode,
        d_rank: list[str],
        s_rank: list[str],
        dense: dict[str, tuple[float, MemoryItem]],
        sparse: dict[str, tuple[float, Level]],
    ) -> list[tuple[str, float]]:
        match mode:
            case "dense":
                return [(i, dense[i][0]) for i in d_rank]
            case "sparse":
                return [(i, sparse[i][0]) for i in s_rank]
            case _:
                cfg = self.settings.retrieval
                if cfg.fusion == "interpolate":
                    return interpolate(
                        {i: dense[i][0] for i in d_rank}, {i: sparse[i][0] for i in s_rank}, alpha=cfg.alpha
                    )
                return rrf([d_rank, s_rank], k=cfg.rrf_k)

    def _dense(
        self, col: Collection, ns: str, qvec: Vectors, n: int, filters: SearchFilters, now: datetime
    ) -> list[tuple[MemoryItem, float]]:
        """Nearest items passing ``filters``.

        Unfiltered HNSW search is several times faster than a ``where`` query, so
        the common case (only "currently valid") over-fetches and filters here,
        falling back to Chroma's ``where`` when that leaves too few.
        """
        if not records.is_selective(filters):
            fetch = n + max(4, n // 4)
            res = col.query(query_embeddings=qvec, n_results=fetch, include=[*_INCLUDE, "distances"])
            got = self._hits(ns, res, filters, now)
            if len(got) >= n or len(res["ids"][0]) < fetch:
                return got[:n]
        res = col.query(
            query_embeddings=qvec, n_results=n, where=records.where(filters, now), include=[*_INCLUDE, "distances"]
        )
        return self._hits(ns, res, filters, now)[:n]

    def _hits(self, ns: str, res: Any, filters: SearchFilters, now: datetime) -> list[tuple[MemoryItem, float]]:
        items = self._decode(ns, res["ids"][0], res["documents"][0], res["metadatas"][0])
        dist = dict(zip(res["ids"][0], res["distances"][0], strict=True))
        return [(it, 1.0 - float(dist[it.id])) for it in items if records.matches(it, filters, now)]

    def _sparse(
        self, col: Collection, ns: str, level: Level, query: str, n: int, filters: SearchFilters, now: datetime
    ) -> list[tuple[str, float]]:
        flt = Bm25Filter(
            as_of_us=None if filters.include_invalid else records.to_us(filters.as_of or now),
            speaker=filters.speaker,
            session_id=filters.session_id,
            source_id=filters.source_id,
            time_from_us=None if filters.time_from is None else records.to_us(filters.time_from),
            time_to_us=None if filters.time_to is None else records.to_us(filters.time_to),
        )
        with self._lock:
            return self._bm25_index(col, ns, level).search(query, n, flt)

    def _bm25_index(self, col: Collection, ns: str, level: Level) -> Bm25Index:
        """The level's BM25 index: cached, else from its snapshot, else built from Chroma; then caught up.

        Catching up replays the history log: ids changed since the index's
        generation (by this or another process) are re-read from Chroma.
        """
        gen = self._history.last_seq(ns, level)
        cfg = self.settings.memory
        index = self._bm25.get((ns, level))
        if index is None:
            index = Bm25Index.load(
                self._bm25_path(ns, level), rebuild_ratio=cfg.bm25_rebuild_ratio, exact_below=cfg.bm25_exact_below
            )
            if index is not None:
                log.info("loaded BM25 snapshot of %r/%s: %d docs", ns, level, len(index))
        if index is not None and index.generation != gen:
            changed = self._history.changed_ids(ns, level, index.generation)
            if len(changed) > max(1000, len(index) // 2):
                index = None
            else:
                present = self._fetch(col, ns, changed)
                index.upsert([_doc(present[i]) for i in changed if i in present])
                index.remove([i for i in changed if i not in present])
                index.generation = gen
        if index is None:
            index = Bm25Index(rebuild_ratio=cfg.bm25_rebuild_ratio, exact_below=cfg.bm25_exact_below)
            offset = 0
            while True:
                res = col.get(include=_INCLUDE, limit=_PAGE, offset=offset)
                page = self._decode(ns, res["ids"], res["documents"], res["metadatas"])
                index.upsert([_doc(it) for it in page])
                offset += len(res["ids"])
                if len(res["ids"]) < _PAGE:
                    break
            index.generation = gen
            log.info("built BM25 for %r/%s from Chroma: %d docs", ns, level, len(index))
        self._bm25[(ns, level)] = index
        return index

    def _bm25_path(self, ns: str, level: Level) -> Path:
        return self._root / "bm25" / f"{collection_name(ns, level)}.npz"

    # -- admin ------------------------------------------------------------------
    def stats(self, namespace: str) -> StoreStats:
        """Counts per level, history size, provenance size and BM25 state of a namespace."""
        ns = validate_namespace(namespace)
        levels: dict[str, LevelStats] = {}
        for lv in LEVELS:
            levels[lv] = LevelStats(valid=self.count(ns, lv), total=self.count(ns, lv, include_invalid=True))
        graph = self._prov.graph(ns, self._history.last_seq(ns))
        return StoreStats(
            namespace=ns,
            backend=self.backend,
            embedder=self.embedder.name,
            levels=levels,
            history_entries=self._history.count(ns),
            provenance_edges=graph.number_of_edges(),
            bm25={lv: idx.stats() for (n, lv), idx in self._bm25.items() if n == ns},
        )

    def close(self) -> None:
        """Release the SQLite connection and caches (the Chroma client is shared per path and left open)."""
        with self._lock:
            for (ns, level), index in self._bm25.items():
                if len(index) >= _SNAPSHOT_MIN_DOCS and index.generation != index.saved_generation:
                    try:
                        index.save(self._bm25_path(ns, level))
                    except OSError as exc:  # a snapshot is an optimisation; never fail close() over it
                        log.warning("could not save the BM25 snapshot of %r/%s: %s", ns, level, exc)
            self._bm25.clear()
            self._collections.clear()
            self._missing.clear()
            self._db.close()

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
            col = self._collection(ns, lv, create=False)
            if col is None:
                continue
            if len(levels) == 1:
                res = col.get(where=where, limit=limit, offset=offset, include=_INCLUDE)
            else:
                res = col.get(where=where, limit=offset + limit, include=_INCLUDE)
            out += self._decode(ns, res["ids"], res["documents"], res["metadatas"])
        if len(levels) == 1:
            return out
        out.sort(key=lambda it: it.ingested_at)
        return out[offset : offset + limit]


def _doc(item: MemoryItem) -> Doc:
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
