"""Vectors: one Chroma collection per namespace and level, and nothing else.

Layout. One collection per namespace and level (``agentrag-<level>-<hash>``),
with the namespace also stamped on every record and checked on every read. A
shared per-level collection filtered by a ``where`` on the namespace was measured
at ~40 ms per query with 10k matching records (Chroma resolves the filter to an
allow-list before the vector search) against ~4 ms unfiltered; a collection per
namespace makes tenancy physical and keeps dense search on the fast path.

A level never written is looked up on every search, so a miss is remembered
until the namespace's ledger sequence moves: every write, from any worker,
creates its collection before it appends to the shared ledger, so a worker that
looked before another created the namespace sees it on its next call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from chromadb import Schema
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import (
    BoolInvertedIndexConfig,
    FloatInvertedIndexConfig,
    FtsIndexConfig,
    IntInvertedIndexConfig,
    StringInvertedIndexConfig,
    VectorIndexConfig,
)
from chromadb.errors import InternalError, NotFoundError

from agentrag.errors import MemoryStoreError
from agentrag.ledger import Ledger
from agentrag.memory import records
from agentrag.memory.chroma_client import collection_name
from agentrag.memory.embedder import Embedder, Vectors
from agentrag.memory.store import SearchFilters
from agentrag.types import Level, MemoryItem

log = logging.getLogger(__name__)

INCLUDE: Any = ["documents", "metadatas"]
_PAGE = 5000


def collection_schema() -> Schema:
    """What Chroma indexes besides the vectors: the keys ``records.where`` filters on, and nothing else.

    Chroma by default keeps a full-text index of every document and an inverted
    index of every metadata key. agentrag never asks Chroma for full text (BM25
    lives in ``sparse.py``) and filters on a handful of keys, so the rest is write
    cost for nothing. Applies to collections created from now on: Chroma ignores
    a schema for an existing collection, which keeps its indexes and works as before.
    """
    schema = Schema()  # (Chroma takes a schema or a configuration, not both: the vector space goes here too)
    schema.create_index(VectorIndexConfig(space="cosine", embedding_function=None))
    schema.delete_index(FtsIndexConfig(), key="#document")
    for config in (
        StringInvertedIndexConfig(),
        IntInvertedIndexConfig(),
        FloatInvertedIndexConfig(),
        BoolInvertedIndexConfig(),
    ):
        schema.delete_index(config)
    for key, kind in records.FILTERED_KEYS.items():
        schema.create_index(IntInvertedIndexConfig() if kind is int else StringInvertedIndexConfig(), key=key)
    return schema


class VectorCollections:
    """Chroma collections of every namespace and level, with tenancy checks on every record read."""

    def __init__(self, client: ClientAPI, embedder: Embedder, ledger: Ledger) -> None:
        self.client = client
        self.embedder = embedder
        self.ledger = ledger
        self.max_batch = max(1, int(client.get_max_batch_size()))
        self._collections: dict[tuple[str, Level], Collection] = {}
        self._missing: dict[tuple[str, Level], int] = {}
        self._lock = threading.Lock()  # guards the two dicts only; never held across a Chroma call

    def collection(self, ns: str, level: Level, *, create: bool) -> Collection | None:
        """The level's collection (created if asked), or None if it does not exist."""
        key = (ns, level)
        col = self._collections.get(key)
        if col is not None:
            return col
        name = collection_name(ns, level)
        if create:
            col = self.client.get_or_create_collection(
                name,
                schema=collection_schema(),
                metadata={
                    "agentrag_namespace": ns,
                    "agentrag_level": level,
                    "embedder": self.embedder.name,
                    "dim": self.embedder.dim,
                },
                embedding_function=None,
            )
        else:
            gen = self.ledger.last_seq(ns)
            if self._missing.get(key) == gen:
                return None
            try:
                col = self.client.get_collection(name, embedding_function=None)
            except NotFoundError:
                with self._lock:
                    self._missing[key] = gen
                return None
        self._check(col, ns, level)
        with self._lock:
            self._collections[key] = col
        return col

    def _check(self, col: Collection, ns: str, level: Level) -> None:
        md = col.metadata or {}
        if md.get("agentrag_namespace") != ns or md.get("agentrag_level") != level:
            raise MemoryStoreError(f"collection {col.name} belongs to {md.get('agentrag_namespace')!r}, not {ns!r}")
        if md.get("embedder") != self.embedder.name:
            raise MemoryStoreError(
                f"namespace {ns!r} was written with embedder {md.get('embedder')!r}; this store embeds with "
                f"{self.embedder.name!r}, and mixing vector spaces would return nonsense"
            )

    def decode(
        self, ns: str, ids: Sequence[str], docs: Sequence[Any] | None, mds: Sequence[Any] | None
    ) -> list[MemoryItem]:
        """Records as items, skipping (and logging) any not stamped with ``ns``."""
        out = []
        for item_id, doc, md in zip(ids, docs or [], mds or [], strict=True):
            if md is None or md.get("ns") != ns:  # defence in depth: never hand out another tenant's record
                log.error("record %s in a collection of %r is stamped %r; skipped", item_id, ns, md and md.get("ns"))
                continue
            out.append(records.from_record(item_id, doc, md))
        return out

    def fetch(self, col: Collection, ns: str, ids: Sequence[str]) -> dict[str, MemoryItem]:
        """Items by id (absent ids are simply missing)."""
        found: dict[str, MemoryItem] = {}
        for i in range(0, len(ids), self.max_batch):
            res = col.get(ids=list(ids[i : i + self.max_batch]), include=INCLUDE)
            for item in self.decode(ns, res["ids"], res["documents"], res["metadatas"]):
                found[item.id] = item
        return found

    def pages(self, col: Collection, ns: str) -> Iterator[list[MemoryItem]]:
        """Every item of a collection, a page at a time."""
        offset = 0
        while True:
            res = col.get(include=INCLUDE, limit=_PAGE, offset=offset)
            yield self.decode(ns, res["ids"], res["documents"], res["metadatas"])
            offset += len(res["ids"])
            if len(res["ids"]) < _PAGE:
                return

    def write(self, col: Collection, items: Sequence[MemoryItem], vectors: Vectors | None, fresh: set[str]) -> None:
        """Upsert items with their vectors, or (``vectors=None``) update metadata only."""
        ids = [it.id for it in items]
        metadatas: Any = [records.to_metadata(it, new=it.id in fresh) for it in items]
        if vectors is None:
            col.update(ids=ids, metadatas=metadatas)
        else:
            col.upsert(ids=ids, embeddings=vectors, documents=[it.text for it in items], metadatas=metadatas)

    def dense(
        self, col: Collection, ns: str, qvec: Vectors, n: int, filters: SearchFilters, now: datetime
    ) -> list[tuple[MemoryItem, float]]:
        """Nearest items passing ``filters``.

        Unfiltered HNSW search is several times faster than a ``where`` query, so
        the common case (only "currently valid") over-fetches and filters here,
        falling back to Chroma's ``where`` when that leaves too few.
        """
        if not records.is_selective(filters):
            fetch = n + max(4, n // 4)
            res = _query(col, query_embeddings=qvec, n_results=fetch, include=[*INCLUDE, "distances"])
            got = self._hits(ns, res, filters, now)
            if len(got) >= n or len(res["ids"][0]) < fetch:
                return got[:n]
        res = _query(
            col, query_embeddings=qvec, n_results=n, where=records.where(filters, now), include=[*INCLUDE, "distances"]
        )
        return self._hits(ns, res, filters, now)[:n]

    def _hits(self, ns: str, res: Any, filters: SearchFilters, now: datetime) -> list[tuple[MemoryItem, float]]:
        items = self.decode(ns, res["ids"][0], res["documents"][0], res["metadatas"][0])
        dist = dict(zip(res["ids"][0], res["distances"][0], strict=True))
        return [(it, 1.0 - float(dist[it.id])) for it in items if records.matches(it, filters, now)]

    def forget_cached(self) -> None:
        """Drop cached collection handles and misses (on close)."""
        with self._lock:
            self._collections.clear()
            self._missing.clear()


_SEGMENT_BEING_WRITTEN = "Nothing found"
_QUERY_TRIES = 6


def _query(col: Collection, **kwargs: Any) -> Any:
    """``col.query``, tried again while the HNSW segment is being written for the first time.

    A Chroma server reading a segment whose folder exists but whose first flush
    has not finished answers "Error creating hnsw segment reader: Nothing found
    on disk" (``UninitializedSegment``): another worker's first write to the
    collection was in flight (seen with two ``serve`` workers on one Chroma
    server). It clears within milliseconds; other internal errors are raised at once.
    """
    for attempt in range(_QUERY_TRIES):
        try:
            return col.query(**kwargs)
        except InternalError as exc:
            if _SEGMENT_BEING_WRITTEN not in str(exc) or attempt == _QUERY_TRIES - 1:
                raise
            log.info("chroma: %s is being written; query tried again (%d)", col.name, attempt + 1)
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")
