"""Hybrid search: dense (Chroma) and sparse (BM25) lists per level, fused, then checked once more.

Each list contributes up to ``max(2k, 20)`` candidates per level; fusion is
``settings.retrieval.fusion`` (RRF or score interpolation). Items found only by
BM25 are read back from Chroma and re-checked against the filters (validity
above all): the index can trail a supersede made by another worker by one
catch-up, and a superseded fact must never come back as evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agentrag.errors import InputError
from agentrag.memory import records
from agentrag.memory.bm25 import Bm25Filter
from agentrag.memory.embedder import Vectors
from agentrag.memory.fusion import interpolate, rrf
from agentrag.memory.sparse import SparseIndexes
from agentrag.memory.store import SearchFilters, SearchMode
from agentrag.memory.vectors import VectorCollections
from agentrag.settings import RetrievalConfig
from agentrag.types import Hit, Level, MemoryItem, utcnow

MAX_K = 1000
Dense = dict[str, tuple[float, MemoryItem]]
Sparse = dict[str, tuple[float, Level]]


def bm25_filter(filters: SearchFilters, now_us: int) -> Bm25Filter:
    """The BM25 twin of ``SearchFilters`` (times as microseconds)."""
    return Bm25Filter(
        as_of_us=None if filters.include_invalid else (records.to_us(filters.as_of) if filters.as_of else now_us),
        speaker=filters.speaker,
        session_id=filters.session_id,
        source_id=filters.source_id,
        time_from_us=None if filters.time_from is None else records.to_us(filters.time_from),
        time_to_us=None if filters.time_to is None else records.to_us(filters.time_to),
    )


class HybridSearch:
    """Dense + sparse + fusion over one namespace."""

    def __init__(
        self,
        vectors: VectorCollections,
        sparse: SparseIndexes,
        embed: Callable[[Sequence[str]], Vectors],
        retrieval: RetrievalConfig,
    ) -> None:
        self.vectors = vectors
        self.sparse = sparse
        self.embed = embed
        self.retrieval = retrieval

    def search(self, ns: str, query: str, k: int, filters: SearchFilters, mode: SearchMode) -> list[Hit]:
        """Best ``k`` items of namespace ``ns`` (already validated) for ``query``."""
        if not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InputError(f"k must be an integer between 1 and {MAX_K}, got {k!r}")
        if mode not in ("dense", "sparse", "hybrid"):
            raise InputError(f"unknown search mode {mode!r}; valid choices: dense, hybrid, sparse")
        now = utcnow()
        depth = max(2 * k, 20)
        dense: Dense = {}
        sparse: Sparse = {}
        qvec: Vectors | None = None
        flt = bm25_filter(filters, records.to_us(now))
        for level in dict.fromkeys(filters.levels):
            col = self.vectors.collection(ns, level, create=False)
            if col is None:
                continue
            if mode != "sparse":
                if qvec is None:
                    qvec = self.embed([query])
                for item, sim in self.vectors.dense(col, ns, qvec, depth, filters, now):
                    dense[item.id] = (sim, item)
            if mode != "dense":
                for item_id, score in self.sparse.search(col, ns, level, query, depth, flt):
                    sparse[item_id] = (score, level)
        d_rank = sorted(dense, key=lambda i: -dense[i][0])[:depth]
        s_rank = sorted(sparse, key=lambda i: -sparse[i][0])[:depth]
        fused = self._fuse(mode, d_rank, s_rank, dense, sparse)
        items = {i: dense[i][1] for i in d_rank if i in dense}
        hits: list[Hit] = []
        start = 0
        while len(hits) < k and start < len(fused):  # refill when re-checks drop sparse-only candidates
            window = fused[start : start + k - len(hits)]
            start += len(window)
            self._read_back(ns, [i for i, _ in window if i not in items], sparse, items)
            for item_id, score in window:
                found = items.get(item_id)
                if found is None or not records.matches(found, filters, now):  # forgotten, or closed meanwhile
                    continue
                hits.append(
                    Hit(
                        item=found,
                        score=score,
                        rank=len(hits) + 1,
                        dense_score=dense[item_id][0] if item_id in dense else None,
                        sparse_score=sparse[item_id][0] if item_id in sparse else None,
                    )
                )
        return hits

    def _read_back(self, ns: str, ids: list[str], sparse: Sparse, items: dict[str, MemoryItem]) -> None:
        by_level: dict[Level, list[str]] = {}
        for i in ids:
            by_level.setdefault(sparse[i][1], []).append(i)
        for level, todo in by_level.items():
            col = self.vectors.collection(ns, level, create=False)
            if col is not None:
                items.update(self.vectors.fetch(col, ns, todo))

    def _fuse(
        self, mode: SearchMode, d_rank: list[str], s_rank: list[str], dense: Dense, sparse: Sparse
    ) -> list[tuple[str, float]]:
        match mode:
            case "dense":
                return [(i, dense[i][0]) for i in d_rank]
            case "sparse":
                return [(i, sparse[i][0]) for i in s_rank]
            case _:
                cfg = self.retrieval
                if cfg.fusion == "interpolate":
                    return interpolate(
                        {i: dense[i][0] for i in d_rank}, {i: sparse[i][0] for i in s_rank}, alpha=cfg.alpha
                    )
                return rrf([d_rank, s_rank], k=cfg.rrf_k)
