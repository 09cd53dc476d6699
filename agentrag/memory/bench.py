"""The memory benchmark: ingest throughput and search latency at a given size.

What is measured, on whatever machine runs it:

* **embedder raw throughput**: ``MiniLMEmbedder.embed`` alone on a sample of the
  corpus (no cache, no store), items/s;
* **ingest with embedding**: ``store.add`` of a same-sized, disjoint sample into an
  empty namespace with the real embedder; the target is >= 80% of the raw rate.
  It is a sample (2,000 items by default) at every corpus size: embedding all
  100,000 items would take half an hour on two cores;
* **ingest with precomputed embeddings**: ``store.add`` of all N items through an
  embedder that looks vectors up in a precomputed table (what a re-index or a
  bulk import with stored vectors costs); target >= 1,000 items/s;
* **Chroma alone**: the same N ids, vectors, documents and metadata upserted into
  a bare Chroma collection in the same batches, so the store's own overhead
  (history, provenance, comparison) is the difference between the two;
* **BM25 cold start**: the first sparse search after the bulk ingest;
* **search latency** for dense, sparse and hybrid (k = 10) over real questions,
  end to end through ``store.search`` including the query embedding. The three
  modes are interleaved query by query (the order rotates per query) and the
  whole pass is repeated, so a burst of load on a shared machine hits every mode
  alike; each repeat's p50/p95 is kept and the spread shown. Query vectors are
  computed cold (no cache) in these passes; a last pass with a query cache is
  reported apart. Hybrid searches are also broken down (query embedding, dense,
  sparse, fusion, the rest) by timing the store's own steps, so the table shows
  that hybrid contains the dense search it runs. Target: hybrid p95 <= 50 ms at
  100,000 items;
* the **load average** (1, 5, 15 minutes) before and after every phase.

The corpus is described in ``agentrag.memory.bench_corpus``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from typing_extensions import TypedDict

from agentrag.memory import records
from agentrag.memory.bench_corpus import (
    NAMESPACE,
    PrecomputedEmbedder,
    Progress,
    bench_items,
    build_corpus,
    corpus_vectors,
)
from agentrag.memory.chroma_client import make_client
from agentrag.memory.chroma_store import ChromaStore
from agentrag.memory.embedder import CachedEmbedder, Embedder, MiniLMEmbedder, Vectors
from agentrag.memory.store import SearchMode
from agentrag.memory.vectors import collection_schema
from agentrag.settings import load_settings
from agentrag.types import MemoryItem

log = logging.getLogger(__name__)

TARGET_HYBRID_P95_MS = 50.0
TARGET_PRECOMPUTED_ITEMS_S = 1000.0
TARGET_EMBED_RATIO = 0.8
MODES: tuple[SearchMode, ...] = ("dense", "sparse", "hybrid")
PHASES = ("embed", "dense", "sparse", "fusion", "rest")
"""Where a hybrid search spends its time; ``rest`` is the total minus the four timed steps."""
_STEPS = {"dense": ("vectors", "dense"), "sparse": ("sparse", "search"), "fusion": ("hybrid", "_fuse")}
"""The store's parts and methods timed for the breakdown (query embedding is timed at the embedder)."""
BULK_BATCH = 5000
"""Items per ``store.add`` call in the precomputed ingest, and per upsert in the Chroma-only run."""


class Latency(TypedDict):
    """Latency summary in milliseconds."""

    n: int
    p50_ms: float
    p95_ms: float
    mean_ms: float


class Spread(TypedDict):
    """Min / median / max of one statistic over the repeats."""

    min: float
    median: float
    max: float


class Repeated(TypedDict):
    """One mode's latency over every repeat pooled, each repeat's own, and their spread."""

    pooled: Latency
    repeats: list[Latency]
    p50_spread: Spread
    p95_spread: Spread


class LoadWindow(TypedDict):
    """The 1, 5 and 15-minute load averages when a phase started and when it ended."""

    before: list[float]
    after: list[float]


class Target(TypedDict):
    """One target and whether it was met."""

    target: str
    measured: float
    met: bool


class BenchResult(BaseModel):
    """Everything one benchmark run measured."""

    model_config = ConfigDict(frozen=True)

    items: int
    corpus: str
    vectors: str
    avg_chars: float
    cpus: int
    embedder: str
    embed_sample: int
    repeats: int
    embed_raw_items_s: float
    ingest_with_embedding_items_s: float
    ingest_precomputed_items_s: float
    chroma_insert_items_s: float
    """Chroma alone: the same N items upserted into a bare collection in the same batches."""
    bm25_cold_start_s: float
    query_embedding: Repeated
    """One question embedded by the model, no cache."""
    query_embedding_cached: Latency
    search: dict[str, Repeated]
    """Interleaved modes, query vectors computed cold in every search."""
    search_cached: dict[str, Latency]
    """One more interleaved pass with the query vectors served from a cache."""
    hybrid_breakdown_mean_ms: dict[str, float]
    """Mean ms per phase of the cold hybrid searches; the phases sum to the hybrid mean."""
    hybrid_breakdown_p50_ms: dict[str, float]
    load: dict[str, LoadWindow]
    targets: dict[str, Target]
    load_avg_1m: float | None = None
    """The machine's 1-minute load average when the run ended (other work competes for the cores)."""


def latency(samples: Sequence[float]) -> Latency:
    """p50 / p95 / mean in ms of samples in seconds."""
    ms = np.asarray(samples) * 1000.0
    return Latency(
        n=len(ms), p50_ms=float(np.percentile(ms, 50)), p95_ms=float(np.percentile(ms, 95)), mean_ms=float(ms.mean())
    )


def repeated(runs: Sequence[Sequence[float]]) -> Repeated:
    """Pool the repeats and keep each one's p50/p95 spread."""
    each = [latency(r) for r in runs]

    def spread(key: str) -> Spread:
        vals = [float(r[key]) for r in each]  # type: ignore[literal-required]
        return Spread(min=min(vals), median=statistics.median(vals), max=max(vals))

    return Repeated(
        pooled=latency([t for r in runs for t in r]), repeats=each, p50_spread=spread("p50_ms"),
        p95_spread=spread("p95_ms"),
    )


def mode_order(n: int) -> tuple[SearchMode, ...]:
    """The modes rotated by ``n``: each goes first, second and third equally often."""
    i = n % len(MODES)
    return MODES[i:] + MODES[:i]


class PhaseClock:
    """Wall time per search step, by wrapping the steps of one store instance (nothing global)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def reset(self) -> None:
        """Start a new search."""
        self.spent = {}

    def timed(self, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` with its wall time added to ``phase``."""

        def run(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[phase] = self.spent.get(phase, 0.0) + time.perf_counter() - t0

        return run

    def instrument(self, store: ChromaStore) -> bool:
        """Time the store's dense, sparse and fusion steps; False (and no breakdown) if it has none."""
        parts = {phase: getattr(store, part, None) for phase, (part, _) in _STEPS.items()}
        if not all(callable(getattr(parts[phase], name, None)) for phase, (_, name) in _STEPS.items()):
            steps = ", ".join(f"{part}.{name}" for part, name in _STEPS.values())
            log.warning("the store has no %s steps to time; no hybrid breakdown", steps)
            return False
        for phase, (_, name) in _STEPS.items():
            setattr(parts[phase], name, self.timed(phase, getattr(parts[phase], name)))
        return True


class TimedEmbedder:
    """An embedder whose calls count as the ``embed`` phase of a ``PhaseClock``."""

    def __init__(self, inner: Embedder, clock: PhaseClock) -> None:
        self.inner = inner
        self.name, self.dim = inner.name, inner.dim
        self._embed = clock.timed("embed", inner.embed)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed through the inner embedder, timed."""
        out: Vectors = self._embed(texts)
        return out


class SearchTimes(TypedDict):
    """Per mode, per repeat, per query: seconds; per hybrid search: seconds in each phase."""

    modes: dict[str, list[list[float]]]
    phases: dict[str, list[float]]


def time_searches(
    store: ChromaStore, queries: Sequence[str], *, k: int, repeats: int, clock: PhaseClock
) -> SearchTimes:
    """Every query in every mode, modes interleaved query by query, order rotated per query and repeat."""
    modes: dict[str, list[list[float]]] = {m: [[] for _ in range(repeats)] for m in MODES}
    phases: dict[str, list[float]] = {p: [] for p in PHASES}
    for r in range(repeats):
        for i, q in enumerate(queries):
            for mode in mode_order(i + r):
                clock.reset()
                t0 = time.perf_counter()
                store.search(NAMESPACE, q, k=k, mode=mode)
                took = time.perf_counter() - t0
                modes[mode][r].append(took)
                if mode == "hybrid":
                    for p in PHASES[:-1]:
                        phases[p].append(clock.spent.get(p, 0.0))
                    phases["rest"].append(took - sum(clock.spent.values()))
    return SearchTimes(modes=modes, phases=phases)


class _Loads:
    """Records the load average around each phase."""

    def __init__(self) -> None:
        self.windows: dict[str, LoadWindow] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        before = [round(x, 2) for x in os.getloadavg()]
        yield
        self.windows[name] = LoadWindow(before=before, after=[round(x, 2) for x in os.getloadavg()])


def chroma_insert_rate(root: Path, items: Sequence[MemoryItem], vectors: Vectors, batch: int) -> float:
    """Items/s of upserting the items into a bare Chroma collection (same config as the store's)."""
    client = make_client(load_settings(data_dir=root))
    col = client.get_or_create_collection("bench-chroma-only", schema=collection_schema(), embedding_function=None)
    ids = [it.id for it in items]
    docs = [it.text for it in items]
    metas: Any = [records.to_metadata(it, new=True) for it in items]
    step = min(batch, int(client.get_max_batch_size()))
    t0 = time.perf_counter()
    for i in range(0, len(items), step):
        col.upsert(ids=ids[i : i + step], embeddings=vectors[i : i + step], documents=docs[i : i + step],
                   metadatas=metas[i : i + step])
    return len(items) / (time.perf_counter() - t0)


def run_memory_bench(
    n_items: int,
    *,
    corpus_dir: Path | None = None,
    work_dir: Path | None = None,
    cache_dir: Path | None = None,
    n_queries: int = 200,
    embed_sample: int = 2000,
    k: int = 10,
    repeats: int = 3,
    variants: str = "embed",
    progress: Progress | None = None,
    embedder: Embedder | None = None,
) -> BenchResult:
    """Run the benchmark at ``n_items`` and return the measurements (see the module docstring).

    ``embedder`` replaces the real model (tests pass a small deterministic one);
    by default it is all-MiniLM-L6-v2 with its query cache off, so every timed
    query is embedded cold.
    """
    say = progress or (lambda msg: log.info("%s", msg))
    corpus = build_corpus(n_items + 2 * embed_sample, corpus_dir, n_queries=n_queries)
    texts, speakers = corpus.texts[:n_items], corpus.speakers[:n_items]
    raw_sample = corpus.texts[n_items : n_items + embed_sample]
    ingest_sample = corpus.texts[n_items + embed_sample :]
    model: Embedder = embedder or MiniLMEmbedder(query_cache=None)
    model.embed(["warm up the model"])
    loads = _Loads()
    root = Path(tempfile.mkdtemp(prefix="agentrag-bench-", dir=work_dir))
    try:
        say(f"raw embedder throughput on {embed_sample:,} texts")
        with loads.phase("embed_raw"):
            t0 = time.perf_counter()
            model.embed(raw_sample)
            raw_rate = embed_sample / (time.perf_counter() - t0)

        say(f"ingest with embedding: {embed_sample:,} items (a sample)")
        store = ChromaStore(load_settings(data_dir=root / "with-embedding"), CachedEmbedder(model))
        sample_items = bench_items(ingest_sample, [None] * len(ingest_sample), "bench-embed")
        with loads.phase("ingest_with_embedding"):
            t0 = time.perf_counter()
            store.add(NAMESPACE, sample_items)
            embed_ingest_rate = embed_sample / (time.perf_counter() - t0)
        store.close()

        with loads.phase("corpus_vectors"):
            vectors = corpus_vectors(corpus.texts, corpus.base_of, model, cache_dir, variants, say, n=n_items)
        items = bench_items(texts, speakers, "bench")

        say(f"Chroma alone: upsert {n_items:,} items into a bare collection")
        with loads.phase("chroma_insert"):
            chroma_rate = chroma_insert_rate(root / "chroma-only", items, vectors, BULK_BATCH)
        shutil.rmtree(root / "chroma-only", ignore_errors=True)

        say(f"ingest with precomputed embeddings: {n_items:,} items")
        clock = PhaseClock()
        pre = PrecomputedEmbedder(texts, vectors, TimedEmbedder(model, clock))
        store = ChromaStore(load_settings(data_dir=root / "precomputed"), pre)
        with loads.phase("ingest_precomputed"):
            t0 = time.perf_counter()
            for i in range(0, len(items), BULK_BATCH):
                store.add(NAMESPACE, items[i : i + BULK_BATCH])
            pre_rate = n_items / (time.perf_counter() - t0)

        say("BM25 cold start (load texts from Chroma, build the segment)")
        with loads.phase("bm25_cold_start"):
            t0 = time.perf_counter()
            store.search(NAMESPACE, corpus.queries[0], k=k, mode="sparse")
            bm25_cold = time.perf_counter() - t0

        say(f"query embedding, cold: {len(corpus.queries)} questions x {repeats}")
        with loads.phase("query_embedding"):
            qlat = [[_timed(model.embed, [q]) for q in corpus.queries] for _ in range(repeats)]

        say(f"search: {len(corpus.queries)} questions x 3 modes interleaved x {repeats} repeats, cold query vectors")
        clock.instrument(store)
        for q in corpus.queries[:5]:
            for mode in MODES:
                store.search(NAMESPACE, q, k=k, mode=mode)
        with loads.phase("search"):
            cold = time_searches(store, corpus.queries, k=k, repeats=repeats, clock=clock)

        say("search with cached query vectors: one more interleaved pass")
        cached_model = CachedEmbedder(model)
        cached_model.embed(list(corpus.queries))
        pre.fallback = TimedEmbedder(cached_model, clock)
        with loads.phase("search_cached"):
            warm = time_searches(store, corpus.queries, k=k, repeats=1, clock=clock)
            q_cached = latency([_timed(cached_model.embed, [q]) for q in corpus.queries])
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    search = {m: repeated(cold["modes"][m]) for m in MODES}
    hybrid_p95 = search["hybrid"]["pooled"]["p95_ms"]
    ratio = embed_ingest_rate / raw_rate
    distinct = sum(b < 0 for b in corpus.base_of[:n_items])
    return BenchResult(
        items=n_items,
        corpus=corpus.source,
        vectors=(
            f"{model.name} for every item"
            if variants == "embed" or distinct == n_items
            else f"{model.name} for the {distinct:,} distinct texts; "
            f"the other {n_items - distinct:,} are synthetic variants: base vector + noise (cosine ~0.9)"
        ),
        avg_chars=float(np.mean([len(t) for t in texts])),
        cpus=os.cpu_count() or 0,
        embedder=model.name,
        embed_sample=embed_sample,
        repeats=repeats,
        embed_raw_items_s=raw_rate,
        ingest_with_embedding_items_s=embed_ingest_rate,
        ingest_precomputed_items_s=pre_rate,
        chroma_insert_items_s=chroma_rate,
        bm25_cold_start_s=bm25_cold,
        query_embedding=repeated(qlat),
        query_embedding_cached=q_cached,
        search=search,
        search_cached={m: latency(warm["modes"][m][0]) for m in MODES},
        hybrid_breakdown_mean_ms={p: float(np.mean(v)) * 1000.0 for p, v in cold["phases"].items()},
        hybrid_breakdown_p50_ms={p: float(np.median(v)) * 1000.0 for p, v in cold["phases"].items()},
        load=loads.windows,
        load_avg_1m=os.getloadavg()[0],
        targets={
            "hybrid_p95_ms": Target(
                target=f"<= {TARGET_HYBRID_P95_MS:g} ms at 100k",
                measured=hybrid_p95,
                met=hybrid_p95 <= TARGET_HYBRID_P95_MS,
            ),
            "ingest_precomputed_items_s": Target(
                target=f">= {TARGET_PRECOMPUTED_ITEMS_S:,.0f} items/s",
                measured=pre_rate,
                met=pre_rate >= TARGET_PRECOMPUTED_ITEMS_S,
            ),
            "ingest_with_embedding_ratio": Target(
                target=f">= {TARGET_EMBED_RATIO:.0%} of raw embedder", measured=ratio, met=ratio >= TARGET_EMBED_RATIO
            ),
        },
    )


def _timed(fn: Callable[[list[str]], object], arg: list[str]) -> float:
    t0 = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t0


def to_markdown(results: Sequence[BenchResult]) -> str:
    """The benchmark table (see ``agentrag.memory.bench_table``)."""
    from agentrag.memory.bench_table import to_markdown as table

    return table(results)


def record(result: BenchResult, out_stem: Path) -> None:
    """Merge ``result`` into ``<out_stem>.json`` and rewrite ``<out_stem>.md`` (see ``bench_table``)."""
    from agentrag.memory.bench_table import record as write

    write(result, out_stem)
