"""The memory benchmark: ingest throughput and search latency at a given size.

What is measured, on whatever machine runs it:

* **embedder raw throughput**: ``MiniLMEmbedder.embed`` alone on a sample of the
  corpus (no cache, no store), items/s;
* **ingest with embedding**: ``store.add`` of a same-sized, disjoint sample into an
  empty namespace with the real embedder; the target is >= 80% of the raw rate;
* **ingest with precomputed embeddings**: ``store.add`` of all N items through an
  embedder that looks vectors up in a precomputed table (what a re-index or a
  bulk import with stored vectors costs); target >= 1,000 items/s;
* **BM25 cold start**: the first sparse search after the bulk ingest (loading
  the namespace's texts from Chroma and building the bm25s segment);
* **search latency** p50/p95 for dense, sparse and hybrid (k = 10) over real
  questions, end to end through ``store.search`` including the query embedding;
  target for hybrid p95 <= 50 ms at 100,000 items.

Corpus: LoCoMo turns plus HotpotQA/MuSiQue sentences (``title: sentence``) from
``corpus_dir`` (the repo's ``../shared/data``), which gives ~18k distinct short
memory items; beyond that, items are variants (one word dropped, a context
tag appended) so no two are identical. Without ``corpus_dir`` a templated
synthetic corpus is used; the result records which. Corpus vectors are cached
on disk (keyed by the corpus hash) so a rerun does not re-embed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict
from typing_extensions import TypedDict

from agentrag.memory.chroma_store import ChromaStore
from agentrag.memory.embedder import CachedEmbedder, Embedder, MiniLMEmbedder, Vectors
from agentrag.memory.store import SearchMode
from agentrag.settings import load_settings
from agentrag.types import MemoryItem

log = logging.getLogger(__name__)

NAMESPACE = "bench"
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_TAGS = [
    "last week",
    "this morning",
    "per the notes",
    "as discussed",
    "on Monday",
    "in the team chat",
    "during the call",
    "from the meeting",
    "in passing",
    "at dinner",
    "on the trip",
    "by email",
    "in March",
    "on Friday",
    "later on",
]
_BLOCK = 2048
TARGET_HYBRID_P95_MS = 50.0
TARGET_PRECOMPUTED_ITEMS_S = 1000.0
TARGET_EMBED_RATIO = 0.8
Progress = Callable[[str], None]


class Latency(TypedDict):
    """Latency summary in milliseconds."""

    n: int
    p50_ms: float
    p95_ms: float
    mean_ms: float


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
    embed_raw_items_s: float
    ingest_with_embedding_items_s: float
    ingest_precomputed_items_s: float
    bm25_cold_start_s: float
    query_embedding: Latency
    search: dict[str, Latency]
    targets: dict[str, Target]
    load_avg_1m: float | None = None
    """The machine's 1-minute load average when the run ended (other work competes for the cores)."""


class _Corpus(BaseModel):
    texts: list[str]
    speakers: list[str | None]
    base_of: list[int]
    """For a variant, the index of the text it was made from; -1 for a distinct text."""
    queries: list[str]
    source: str


class PrecomputedEmbedder:
    """Serves stored vectors for known texts and defers anything else (queries) to a real embedder."""

    def __init__(self, texts: Sequence[str], vectors: Vectors, fallback: Embedder) -> None:
        self._row = {t: i for i, t in enumerate(texts)}
        self._vectors = vectors
        self._fallback = fallback
        self.name, self.dim = fallback.name, fallback.dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Look up each text; embed the unknown ones."""
        rows = [self._row.get(t, -1) for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        known = [i for i, r in enumerate(rows) if r >= 0]
        out[known] = self._vectors[[rows[i] for i in known]]
        unknown = [i for i, r in enumerate(rows) if r < 0]
        if unknown:
            out[unknown] = self._fallback.embed([texts[i] for i in unknown])
        return out


def build_corpus(n: int, corpus_dir: Path | None, *, seed: int = 0, n_queries: int = 200) -> _Corpus:
    """N distinct short memory texts and real questions (see the module docstring)."""
    rng = random.Random(seed)
    pool: list[tuple[str, str | None]] = []
    queries: list[str] = []
    if corpus_dir is not None and (corpus_dir / "locomo" / "locomo10.dev.json").is_file():
        for conv in json.loads((corpus_dir / "locomo" / "locomo10.dev.json").read_text(encoding="utf-8")):
            for key, turns in conv["conversation"].items():
                if key.startswith("session_") and isinstance(turns, list):
                    pool += [(t["text"], t["speaker"]) for t in turns if t.get("text", "").strip()]
            queries += [q["question"] for q in conv["qa"]]
        for name in ("hotpotqa", "musique"):
            for line in (corpus_dir / name / f"{name}.dev.corpus.jsonl").read_text(encoding="utf-8").splitlines():
                para = json.loads(line)
                pool += [(f"{para['title']}: {s.strip()}", None) for s in _SENTENCE.split(para["text"]) if s.strip()]
            for line in (corpus_dir / name / f"{name}.dev.jsonl").read_text(encoding="utf-8").splitlines():
                queries.append(json.loads(line)["question"])
        source = "LoCoMo dev turns + HotpotQA/MuSiQue dev-corpus sentences (../shared/data)"
    else:
        pool, queries = _synthetic_pool(rng)
        source = "templated synthetic sentences"
    pool = list(dict.fromkeys(pool))
    rng.shuffle(pool)
    rng.shuffle(queries)
    texts: list[str] = []
    speakers: list[str | None] = []
    base_of: list[int] = []
    seen: set[str] = set()
    i = 0
    while len(texts) < n:
        base, speaker = pool[i % len(pool)]
        text = base if i < len(pool) else _variant(base, rng)
        if text not in seen:
            seen.add(text)
            texts.append(text)
            speakers.append(speaker)
            base_of.append(-1 if i < len(pool) else i % len(pool))  # pool item k sits at texts[k]
        i += 1
    return _Corpus(texts=texts, speakers=speakers, base_of=base_of, queries=queries[:n_queries], source=source)


def _variant(text: str, rng: random.Random) -> str:
    words = text.split()
    if len(words) > 4:
        del words[rng.randrange(1, len(words))]
    return f"{' '.join(words)} ({rng.choice(_TAGS)}, #{rng.randrange(10_000)})"


def _synthetic_pool(rng: random.Random) -> tuple[list[tuple[str, str | None]], list[str]]:
    people = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jia", "Kofi", "Lena"]
    verbs = ["visited", "painted", "adopted", "cooked", "studied", "repaired", "photographed", "sold", "planted"]
    things = [
        "a lighthouse",
        "a sourdough loaf",
        "an old bicycle",
        "a rescue dog",
        "a violin",
        "a garden shed",
        "a mountain trail",
        "a jazz record",
        "a chess set",
        "a tomato bed",
        "a canoe",
        "a telescope",
    ]
    places = ["in Lisbon", "near the lake", "at the market", "in Osaka", "downtown", "at the cabin", "in Nairobi"]
    pool: list[tuple[str, str | None]] = [
        (f"{p} {v} {t} {pl} {w}.", p)
        for p in people
        for v in verbs
        for t in things
        for pl in places
        for w in rng.sample(["yesterday", "last summer", "in 2019", "on a rainy day", "twice"], 2)
    ]
    queries = [f"What did {rng.choice(people)} {rng.choice(verbs)[:-2]} {rng.choice(places)}?" for _ in range(500)]
    return pool, queries


def _latency(samples: Sequence[float]) -> Latency:
    ms = np.asarray(samples) * 1000.0
    return Latency(
        n=len(ms), p50_ms=float(np.percentile(ms, 50)), p95_ms=float(np.percentile(ms, 95)), mean_ms=float(ms.mean())
    )


def _vectors(
    texts: Sequence[str],
    base_of: Sequence[int],
    embedder: Embedder,
    cache_dir: Path | None,
    variants: str,
    say: Progress,
) -> Vectors:
    """Corpus vectors, embedded in cached blocks; variants embedded too, or perturbed from their base.

    ``variants="perturb"`` gives a variant its base text's vector plus Gaussian noise
    scaled for cosine ~0.9 to the base (about what dropping a word and adding a tag
    does), so a 100k corpus costs ~18k real embeddings on a small CPU.
    """
    todo = [i for i, b in enumerate(base_of) if b < 0 or variants == "embed"]
    out = np.empty((len(texts), embedder.dim), dtype=np.float32)
    say(f"corpus vectors: embedding {len(todo):,} texts ({len(texts) - len(todo):,} variants perturbed)")
    for start in range(0, len(todo), _BLOCK):
        rows = todo[start : start + _BLOCK]
        block = [texts[i] for i in rows]
        key = hashlib.sha256("\x1e".join(block).encode("utf-8")).hexdigest()[:24]
        path = cache_dir / f"{embedder.name}-{key}.npy" if cache_dir else None
        if path is not None and path.is_file():
            out[rows] = np.load(path)
            continue
        vecs = embedder.embed(block)
        out[rows] = vecs
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, vecs)
        say(f"  embedded {start + len(rows):,} / {len(todo):,}")
    rest = [i for i, b in enumerate(base_of) if b >= 0 and variants != "embed"]
    if rest:
        rng = np.random.default_rng(0)
        noisy = out[[base_of[i] for i in rest]] + rng.normal(0.0, 0.0247, (len(rest), embedder.dim))
        out[rest] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    return out


def _items(texts: Sequence[str], speakers: Sequence[str | None], source: str) -> list[MemoryItem]:
    return [
        MemoryItem.new(namespace=NAMESPACE, level="raw", text=t, source_id=source, position=i, speaker=s)
        for i, (t, s) in enumerate(zip(texts, speakers, strict=True))
    ]


def run_memory_bench(
    n_items: int,
    *,
    corpus_dir: Path | None = None,
    work_dir: Path | None = None,
    cache_dir: Path | None = None,
    n_queries: int = 200,
    embed_sample: int = 2000,
    k: int = 10,
    variants: str = "embed",
    progress: Progress | None = None,
) -> BenchResult:
    """Run the benchmark at ``n_items`` and return the measurements (see the module docstring)."""
    say = progress or (lambda msg: log.info("%s", msg))
    corpus = build_corpus(n_items + 2 * embed_sample, corpus_dir, n_queries=n_queries)
    texts, speakers = corpus.texts[:n_items], corpus.speakers[:n_items]
    raw_sample = corpus.texts[n_items : n_items + embed_sample]
    ingest_sample = corpus.texts[n_items + embed_sample :]
    model = MiniLMEmbedder()
    model.embed(["warm up the model"])
    root = Path(tempfile.mkdtemp(prefix="agentrag-bench-", dir=work_dir))
    try:
        say(f"raw embedder throughput on {embed_sample:,} texts")
        t0 = time.perf_counter()
        model.embed(raw_sample)
        raw_rate = embed_sample / (time.perf_counter() - t0)

        say(f"ingest with embedding: {embed_sample:,} items")
        store = ChromaStore(load_settings(data_dir=root / "with-embedding"), CachedEmbedder(model))
        sample_items = _items(ingest_sample, [None] * len(ingest_sample), "bench-embed")
        t0 = time.perf_counter()
        store.add(NAMESPACE, sample_items)
        embed_ingest_rate = embed_sample / (time.perf_counter() - t0)
        store.close()

        vectors = _vectors(texts, corpus.base_of[:n_items], model, cache_dir, variants, say)
        say(f"ingest with precomputed embeddings: {n_items:,} items")
        store = ChromaStore(load_settings(data_dir=root / "precomputed"), PrecomputedEmbedder(texts, vectors, model))
        items = _items(texts, speakers, "bench")
        t0 = time.perf_counter()
        for i in range(0, len(items), 5000):
            store.add(NAMESPACE, items[i : i + 5000])
        pre_rate = n_items / (time.perf_counter() - t0)

        say("BM25 cold start (load texts from Chroma, build the segment)")
        t0 = time.perf_counter()
        store.search(NAMESPACE, corpus.queries[0], k=k, mode="sparse")
        bm25_cold = time.perf_counter() - t0

        say(f"search latency over {len(corpus.queries)} questions")
        qlat = []
        for q in corpus.queries:
            t0 = time.perf_counter()
            model.embed([q])
            qlat.append(time.perf_counter() - t0)
        search: dict[str, Latency] = {}
        modes: tuple[SearchMode, ...] = ("dense", "sparse", "hybrid")
        for mode in modes:
            for q in corpus.queries[:5]:
                store.search(NAMESPACE, q, k=k, mode=mode)
            times = []
            for q in corpus.queries:
                t0 = time.perf_counter()
                store.search(NAMESPACE, q, k=k, mode=mode)
                times.append(time.perf_counter() - t0)
            search[mode] = _latency(times)
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    hybrid_p95 = search["hybrid"]["p95_ms"]
    ratio = embed_ingest_rate / raw_rate
    return BenchResult(
        items=n_items,
        corpus=corpus.source,
        vectors=(
            "all-MiniLM-L6-v2 for every item"
            if variants == "embed" or all(b < 0 for b in corpus.base_of[:n_items])
            else f"all-MiniLM-L6-v2 for the {sum(b < 0 for b in corpus.base_of[:n_items]):,} distinct texts; "
            "variants: base vector + noise (cosine ~0.9)"
        ),
        avg_chars=float(np.mean([len(t) for t in texts])),
        cpus=os.cpu_count() or 0,
        embedder=model.name,
        embed_sample=embed_sample,
        embed_raw_items_s=raw_rate,
        ingest_with_embedding_items_s=embed_ingest_rate,
        ingest_precomputed_items_s=pre_rate,
        bm25_cold_start_s=bm25_cold,
        query_embedding=_latency(qlat),
        search=search,
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


def to_markdown(results: Sequence[BenchResult]) -> str:
    """A table with one column per run, and the targets marked met or missed."""
    runs = sorted(results, key=lambda r: r.items)

    def mark(r: BenchResult, key: str, text: str) -> str:
        return f"{text} {'✅' if r.targets[key]['met'] else '❌'}"

    rows: list[tuple[str, list[str]]] = [
        ("embedder raw throughput (items/s)", [f"{r.embed_raw_items_s:,.0f}" for r in runs]),
        (
            "ingest incl. embedding (items/s; target >= 80% of raw)",
            [
                mark(r, "ingest_with_embedding_ratio", f"{r.ingest_with_embedding_items_s:,.0f} ({_ratio(r):.0%})")
                for r in runs
            ],
        ),
        (
            "ingest, precomputed embeddings (items/s; target >= 1,000)",
            [mark(r, "ingest_precomputed_items_s", f"{r.ingest_precomputed_items_s:,.0f}") for r in runs],
        ),
        ("BM25 cold start (s)", [f"{r.bm25_cold_start_s:.1f}" for r in runs]),
        (
            "query embedding p50 / p95 (ms)",
            [f"{r.query_embedding['p50_ms']:.1f} / {r.query_embedding['p95_ms']:.1f}" for r in runs],
        ),
    ]
    for mode in ("dense", "sparse", "hybrid"):
        cells = [f"{r.search[mode]['p50_ms']:.1f} / {r.search[mode]['p95_ms']:.1f}" for r in runs]
        if mode == "hybrid":
            cells = [mark(r, "hybrid_p95_ms", c) if r.items >= 100_000 else c for r, c in zip(runs, cells, strict=True)]
        label = f"{mode} search p50 / p95 (ms, k=10)" + ("; target p95 <= 50 at 100k" if mode == "hybrid" else "")
        rows.append((label, cells))
    head = "| | " + " | ".join(f"{r.items:,} items" for r in runs) + " |"
    sep = "| --- |" + " --- |" * len(runs)
    body = "\n".join(f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows)
    first = runs[0]
    per_run = "; ".join(
        f"{r.items:,} items: mean {r.avg_chars:.0f} characters, vectors: {r.vectors}"
        + (f", load average {r.load_avg_1m:.1f} at the end" if r.load_avg_1m is not None else "")
        for r in runs
    )
    note = (
        f"\n\nMeasured with `agentrag bench memory` on {first.cpus} CPU cores, embedded Chroma, "
        f"embedder {first.embedder}; corpus: {first.corpus}. Search latency is end to end through "
        f"`store.search`, query embedding included; {first.query_embedding['n']} questions per mode. "
        f"Ingest with embedding is measured on {first.embed_sample:,} items. Per run: {per_run}."
    )
    return f"{head}\n{sep}\n{body}{note}\n"


def _ratio(r: BenchResult) -> float:
    return r.targets["ingest_with_embedding_ratio"]["measured"]


def record(result: BenchResult, out_stem: Path) -> None:
    """Merge ``result`` into ``<out_stem>.json`` (keyed by item count) and rewrite ``<out_stem>.md``."""
    json_path, md_path = out_stem.with_suffix(".json"), out_stem.with_suffix(".md")
    runs: dict[str, object] = json.loads(json_path.read_text()) if json_path.is_file() else {}
    runs[str(result.items)] = result.model_dump(mode="json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(runs, indent=2) + "\n")
    all_runs = [BenchResult.model_validate(v) for v in runs.values()]
    md_path.write_text("# Memory benchmark\n\n" + to_markdown(all_runs))
