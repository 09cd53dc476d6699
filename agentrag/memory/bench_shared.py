"""The shared-state benchmark: two worker processes on one Chroma server and one Postgres.

What is measured (``python -m agentrag.memory.bench_shared --chroma-port P --dsn DSN``):

* **ingest**: both workers add half of N items each, at once, into one namespace
  (batches of 1,000); aggregate items/s from the start barrier to the last batch;
* **cross-process visibility**: worker A adds one item with a unique word, worker B
  searches (sparse) for it right after A's call returned; the delay from A's return
  to B's first answer that contains it, and how many searches that took;
* **search latency** p50/p95 of dense, sparse and hybrid (k = 10), interleaved query by
  query, both workers searching at once, end to end through ``store.search`` including
  the query embedding (real all-MiniLM-L6-v2) and the ledger catch-up check.

Corpus vectors are pseudo-random unit vectors derived from a hash of the text (the
"precomputed embeddings" case: what the store costs, not the model); queries are
embedded by the real model, so latencies include it. Dense ranking over hash vectors is
meaningless, its latency is not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing as mp
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from agentrag.memory.embedder import Embedder, Vectors, default_embedder
from agentrag.memory.store import SearchMode
from agentrag.settings import HttpChroma, PostgresState, Settings
from agentrag.types import MemoryItem

log = logging.getLogger(__name__)

_WORDS = [
    "harbour",
    "ferry",
    "lighthouse",
    "keeper",
    "storm",
    "logbook",
    "garden",
    "orchard",
    "violin",
    "recital",
    "kitchen",
    "lentil",
    "soup",
    "bread",
    "mountain",
    "glacier",
    "ibex",
    "nurse",
    "hospital",
    "night",
    "shift",
    "school",
    "teacher",
    "library",
    "archive",
    "museum",
    "painting",
    "bicycle",
    "repair",
    "market",
    "cheese",
    "bakery",
    "festival",
    "lantern",
    "river",
    "bridge",
    "train",
    "station",
    "tram",
    "ticket",
    "island",
    "winter",
    "summer",
    "spring",
    "autumn",
    "birthday",
    "wedding",
    "concert",
    "guitar",
    "novel",
    "poem",
    "letter",
    "postcard",
    "camera",
]
_MODES: tuple[SearchMode, ...] = ("dense", "sparse", "hybrid")


class HashEmbedder:
    """Corpus texts to deterministic pseudo-random unit vectors; anything else to the real model."""

    def __init__(self, real: Embedder, corpus: set[str]) -> None:
        self.real, self.corpus = real, corpus
        self.name, self.dim = real.name, real.dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Hash vectors for corpus texts, the real model for queries."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        unknown = [i for i, t in enumerate(texts) if t not in self.corpus]
        for i, t in enumerate(texts):
            if t in self.corpus:
                seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "big")
                v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
                out[i] = v / np.linalg.norm(v)
        if unknown:
            out[unknown] = self.real.embed([texts[i] for i in unknown])
        return out


def corpus(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """N distinct synthetic memory texts and 100 queries drawn from their words."""
    rng = random.Random(seed)
    texts = [f"{' '.join(rng.choices(_WORDS, k=9))} #{i}" for i in range(n)]
    queries = [" ".join(rng.sample(_WORDS, 3)) for _ in range(100)]
    return texts, queries


def _items(ns: str, texts: Sequence[str], offset: int) -> list[MemoryItem]:
    return [
        MemoryItem.new(namespace=ns, level="raw", text=t, source_id="bench", position=offset + i)
        for i, t in enumerate(texts)
    ]


def _worker(name: str, settings: Settings, texts: list[str], conn: Connection) -> None:
    """One worker process: its own store, caches and connections; obeys commands from the pipe."""
    from agentrag.memory.chroma_store import ChromaStore

    store = ChromaStore(settings, HashEmbedder(default_embedder(), set(texts)))
    store.embedder.embed(["warm up"])
    conn.send("ready")
    while True:
        cmd, arg = conn.recv()
        match cmd:
            case "ingest":
                ns, lo, hi, start_at = arg
                time.sleep(max(0.0, start_at - time.time()))
                for i in range(lo, hi, 1000):
                    store.add(ns, _items(ns, texts[i : min(hi, i + 1000)], i))
                conn.send(time.time())
            case "add_one":
                ns, text, pos = arg
                store.add(ns, _items(ns, [text], pos))
                conn.send(time.time())
            case "find":
                ns, word = arg
                tries = 0
                while True:
                    tries += 1
                    hits = store.search(ns, word, k=1, mode="sparse")
                    if hits and word in hits[0].item.text:
                        conn.send((time.time(), tries))
                        break
            case "search":
                ns, queries, start_at = arg
                time.sleep(max(0.0, start_at - time.time()))
                lat: dict[str, list[float]] = {m: [] for m in _MODES}
                for q in queries:
                    for mode in _MODES:
                        t0 = time.perf_counter()
                        store.search(ns, q, k=10, mode=mode)
                        lat[mode].append((time.perf_counter() - t0) * 1000)
                conn.send(lat)
            case _:
                store.close()
                conn.send("closed")
                return


def _pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p)) if values else float("nan")


def run(chroma: HttpChroma, dsn: str, n: int, root: Path) -> dict[str, Any]:
    """Run the benchmark at N items and return its figures."""
    texts, queries = corpus(n + 100)
    extra = texts[n:]
    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    for name in ("a", "b"):
        settings = Settings(data_dir=root / name, chroma=chroma, state=PostgresState(dsn=dsn))
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(name, settings, texts, there), daemon=True)
        proc.start()
        pipes.append(here)
        procs.append(proc)
    for p in pipes:
        assert p.recv() == "ready"
    ns = f"bench-{n}-{time.time_ns()}"
    start = time.time() + 1.0
    half = n // 2
    pipes[0].send(("ingest", (ns, 0, half, start)))
    pipes[1].send(("ingest", (ns, half, n, start)))
    done = max(p.recv() for p in pipes)
    ingest_rate = n / (done - start)
    pipes[1].send(("search", (ns, queries[:5], time.time())))  # b builds its BM25 index (cold start, not timed here)
    pipes[1].recv()
    delays, tries = [], []
    for i, text in enumerate(extra[:20]):
        word = f"zq{i}x{n}"
        pipes[0].send(("add_one", (ns, f"{text} {word}", n + i)))
        returned = pipes[0].recv()
        pipes[1].send(("find", (ns, word)))
        found, t = pipes[1].recv()
        delays.append((found - returned) * 1000)
        tries.append(t)
    start = time.time() + 0.5
    for k, p in enumerate(pipes):
        p.send(("search", (ns, queries[k::2], start)))
    lat: dict[str, list[float]] = {m: [] for m in _MODES}
    for p in pipes:
        for mode, values in p.recv().items():
            lat[mode] += values
    for p, proc in zip(pipes, procs, strict=True):
        p.send(("close", None))
        p.recv()
        proc.join(timeout=60)
    return {
        "items": n,
        "workers": 2,
        "ingest_items_per_s": round(ingest_rate, 1),
        "visibility_ms": {"p50": round(statistics.median(delays), 1), "max": round(max(delays), 1)},
        "visibility_searches": {"max": max(tries), "all_first_try": all(t == 1 for t in tries)},
        "search_ms": {m: {"p50": round(_pct(v, 50), 1), "p95": round(_pct(v, 95), 1)} for m, v in lat.items()},
        "queries_per_mode": len(lat["hybrid"]),
    }


def machine() -> dict[str, Any]:
    """Where it ran: CPU, cores and the load average at the end."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()]}


def table(results: list[dict[str, Any]], where: dict[str, Any]) -> str:
    """The results as a markdown table."""
    lines = [
        f"Two workers, Chroma server + Postgres; {where['cpu']}, {where['cores']} cores, "
        f"load average {where['load_avg']} at the end.",
        "",
        "| items | ingest items/s | visibility p50 / max ms | dense p50/p95 | sparse p50/p95 | hybrid p50/p95 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        s = r["search_ms"]
        lines.append(
            f"| {r['items']:,} | {r['ingest_items_per_s']:,.0f} | {r['visibility_ms']['p50']} / "
            f"{r['visibility_ms']['max']} | " + " | ".join(f"{s[m]['p50']} / {s[m]['p95']}" for m in _MODES) + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--chroma-host", default="127.0.0.1")
    ap.add_argument("--chroma-port", type=int, required=True)
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--items", type=int, nargs="+", default=[10_000])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/shared"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    chroma = HttpChroma(host=args.chroma_host, port=args.chroma_port)
    results = []
    with tempfile.TemporaryDirectory(prefix="agentrag-bench-shared-") as tmp:
        for n in args.items:
            results.append(run(chroma, args.dsn, n, Path(tmp) / str(n)))
            log.warning("done %d: %s", n, results[-1])
    where = machine()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"machine": where, "results": results}, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(table(results, where))
    print(table(results, where))


if __name__ == "__main__":
    main()
