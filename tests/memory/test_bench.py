"""The memory benchmark's own logic: interleaved modes, the hybrid breakdown, repeats and the record.

A small hashing embedder stands in for the model here: these tests check how the
benchmark measures, not the model (the CLI test runs it with the real embedder).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from agentrag.memory.bench import (
    MODES,
    PHASES,
    PhaseClock,
    TimedEmbedder,
    mode_order,
    record,
    repeated,
    run_memory_bench,
    time_searches,
)
from agentrag.memory.bench_corpus import NAMESPACE, bench_items, build_corpus, corpus_vectors
from agentrag.memory.chroma_store import ChromaStore
from agentrag.memory.embedder import Vectors
from agentrag.settings import load_settings


class HashEmbedder:
    """Bag of hashed words in 64 dimensions, unit length: deterministic and instant."""

    name = "hash-64"
    dim = 64

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, hashlib.blake2b(word.encode(), digest_size=2).digest()[0] % self.dim] += 1.0
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-9)
        return out


def test_mode_order_puts_every_mode_in_every_position_equally_often() -> None:
    orders = [mode_order(n) for n in range(6)]
    assert all(sorted(o) == sorted(MODES) for o in orders)
    for pos in range(len(MODES)):
        firsts = [o[pos] for o in orders]
        assert all(firsts.count(m) == 2 for m in MODES)


def test_repeated_pools_the_runs_and_keeps_each_spread() -> None:
    got = repeated([[0.010, 0.020], [0.030, 0.040], [0.050, 0.060]])
    assert got["pooled"]["n"] == 6 and [r["n"] for r in got["repeats"]] == [2, 2, 2]
    assert got["p50_spread"]["min"] == pytest.approx(15.0) and got["p50_spread"]["max"] == pytest.approx(55.0)
    assert got["p50_spread"]["median"] == pytest.approx(35.0)


@pytest.fixture
def small_store(tmp_path: Path) -> tuple[ChromaStore, PhaseClock, list[str]]:
    corpus = build_corpus(80, None, n_queries=4)
    clock = PhaseClock()
    store = ChromaStore(load_settings(data_dir=tmp_path / "data"), TimedEmbedder(HashEmbedder(), clock))
    store.add(NAMESPACE, bench_items(corpus.texts, corpus.speakers, "bench"))
    assert clock.instrument(store)
    return store, clock, corpus.queries


def test_searches_are_interleaved_query_by_query(small_store: tuple[ChromaStore, PhaseClock, list[str]]) -> None:
    store, clock, queries = small_store
    seen: list[tuple[str, str]] = []
    search = store.search

    def spy(namespace: str, query: str, **kw: object) -> object:
        seen.append((query, str(kw["mode"])))
        return search(namespace, query, **kw)  # type: ignore[arg-type]

    store.search = spy  # type: ignore[method-assign]
    times = time_searches(store, queries, k=5, repeats=2, clock=clock)
    expected = [(q, m) for r in range(2) for i, q in enumerate(queries) for m in mode_order(i + r)]
    assert seen == expected
    assert all(len(times["modes"][m]) == 2 and all(len(r) == len(queries) for r in times["modes"][m]) for m in MODES)
    store.close()


def test_hybrid_breakdown_times_every_step_and_sums_to_the_search(
    small_store: tuple[ChromaStore, PhaseClock, list[str]],
) -> None:
    store, clock, queries = small_store
    times = time_searches(store, queries, k=5, repeats=1, clock=clock)
    phases = times["phases"]
    assert set(phases) == set(PHASES) and all(len(v) == len(queries) for v in phases.values())
    for p in ("embed", "dense", "sparse", "fusion"):
        assert all(t > 0 for t in phases[p]), p  # each step of a hybrid search was timed
    assert all(t >= 0 for t in phases["rest"])
    total = sum(sum(v) for v in phases.values())
    assert total == pytest.approx(sum(times["modes"]["hybrid"][0]))
    store.close()


def test_run_reports_repeats_breakdown_chroma_alone_and_loads(tmp_path: Path) -> None:
    result = run_memory_bench(150, n_queries=5, embed_sample=20, repeats=2, work_dir=tmp_path, embedder=HashEmbedder())
    assert result.repeats == 2 and set(result.search) == set(MODES)
    for m in MODES:
        rep = result.search[m]
        assert rep["pooled"]["n"] == 10 and len(rep["repeats"]) == 2
        assert rep["p95_spread"]["min"] <= rep["p95_spread"]["median"] <= rep["p95_spread"]["max"]
        assert result.search_cached[m]["n"] == 5
    assert sum(result.hybrid_breakdown_mean_ms.values()) == pytest.approx(result.search["hybrid"]["pooled"]["mean_ms"])
    assert result.chroma_insert_items_s > 0 and result.ingest_precomputed_items_s > 0
    assert {"embed_raw", "ingest_with_embedding", "chroma_insert", "ingest_precomputed", "search",
            "search_cached"} <= set(result.load)
    assert all(len(w["before"]) == 3 and len(w["after"]) == 3 for w in result.load.values())

    stem = tmp_path / "out" / "memory"
    stem.parent.mkdir()
    stem.with_suffix(".json").write_text(json.dumps({"999": {"items": 999, "search": {}}}))  # an old-schema run
    record(result, stem)
    assert list(json.loads(stem.with_suffix(".json").read_text())) == ["150"]
    table = stem.with_suffix(".md").read_text()
    assert "20-item sample" in table and "Chroma alone" in table and "hybrid breakdown" in table


class CountingEmbedder(HashEmbedder):
    """Counts the texts it embeds."""

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += len(texts)
        return super().embed(texts)


def test_corpus_vector_blocks_do_not_depend_on_the_run_size(tmp_path: Path) -> None:
    corpus = build_corpus(5000, None)
    big, small = CountingEmbedder(), CountingEmbedder()
    full = corpus_vectors(corpus.texts, corpus.base_of, big, tmp_path, "embed", lambda _: None, n=4500)
    part = corpus_vectors(corpus.texts, corpus.base_of, small, tmp_path, "embed", lambda _: None, n=3000)
    assert big.calls > 0 and small.calls == 0  # the smaller run found every block in the larger run's cache
    assert part.shape == (3000, 64) and np.array_equal(part, full[:3000])
