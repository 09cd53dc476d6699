"""The memory benchmark's table and its JSON record (``benchmarks/memory.{json,md}``).

Every search cell shows the pooled p50 / p95 over all repeats and, after it,
the range of the repeats' own p95s, so a reader sees how much the machine's
load moved the numbers; the load averages are printed under the table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from agentrag.memory.bench import MODES, PHASES, BenchResult, Latency, Repeated

log = logging.getLogger(__name__)


def _mark(r: BenchResult, key: str, text: str) -> str:
    return f"{text} {'✅' if r.targets[key]['met'] else '❌'}"


def _lat(x: Latency, digits: int = 1) -> str:
    return f"{x['p50_ms']:.{digits}f} / {x['p95_ms']:.{digits}f}"


def _rep(x: Repeated) -> str:
    s = x["p95_spread"]
    return f"{_lat(x['pooled'])} (p95 {s['min']:.1f} to {s['max']:.1f})"


def _ratio(r: BenchResult) -> float:
    return r.targets["ingest_with_embedding_ratio"]["measured"]


def _rows(runs: Sequence[BenchResult]) -> list[tuple[str, list[str]]]:
    rows: list[tuple[str, list[str]]] = [
        ("embedder raw throughput (items/s)", [f"{r.embed_raw_items_s:,.0f}" for r in runs]),
        (
            "ingest incl. embedding (items/s; on a sample, size in brackets; target >= 80% of raw)",
            [
                _mark(r, "ingest_with_embedding_ratio",
                      f"{r.ingest_with_embedding_items_s:,.0f} ({_ratio(r):.0%}; {r.embed_sample:,}-item sample)")
                for r in runs
            ],
        ),
        (
            "ingest, precomputed embeddings, all items (items/s; target >= 1,000)",
            [_mark(r, "ingest_precomputed_items_s", f"{r.ingest_precomputed_items_s:,.0f}") for r in runs],
        ),
        ("Chroma alone: upsert of the same items (items/s)", [f"{r.chroma_insert_items_s:,.0f}" for r in runs]),
        ("BM25 cold start (s)", [f"{r.bm25_cold_start_s:.1f}" for r in runs]),
        ("query embedding, cold, p50 / p95 (ms)", [_rep(r.query_embedding) for r in runs]),
        ("query embedding, cached, p50 / p95 (ms)", [_lat(r.query_embedding_cached, 3) for r in runs]),
    ]
    for mode in MODES:
        cells = [_rep(r.search[mode]) for r in runs]
        if mode == "hybrid":
            cells = [
                _mark(r, "hybrid_p95_ms", c) if r.items >= 100_000 else c for r, c in zip(runs, cells, strict=True)
            ]
        label = f"{mode} search, cold query vector, p50 / p95 (ms, k=10)"
        rows.append((label + ("; target p95 <= 50 at 100k" if mode == "hybrid" else ""), cells))
    rows.append((
        "hybrid breakdown, mean ms: " + " + ".join(PHASES) + " = hybrid mean",
        [" + ".join(f"{r.hybrid_breakdown_mean_ms[p]:.1f}" for p in PHASES)
         + f" = {r.search['hybrid']['pooled']['mean_ms']:.1f}" for r in runs],
    ))
    rows += [
        (f"{mode} search, cached query vector, p50 / p95 (ms)", [_lat(r.search_cached[mode]) for r in runs])
        for mode in MODES
    ]
    rows.append((
        "load average (1 min) before → after the search passes",
        [f"{r.load['search']['before'][0]:.1f} → {r.load['search']['after'][0]:.1f}" for r in runs],
    ))
    return rows


def to_markdown(results: Sequence[BenchResult]) -> str:
    """A table with one column per run, the targets marked met or missed, and how each run was made."""
    runs = sorted(results, key=lambda r: r.items)
    head = "| | " + " | ".join(f"{r.items:,} items" for r in runs) + " |"
    sep = "| --- |" + " --- |" * len(runs)
    body = "\n".join(f"| {label} | " + " | ".join(cells) + " |" for label, cells in _rows(runs))
    first = runs[0]
    per_run = "\n".join(
        f"- {r.items:,} items: mean {r.avg_chars:.0f} characters; vectors: {r.vectors}; "
        f"ingest incl. embedding measured on a {r.embed_sample:,}-item sample; 1-minute load average "
        + ", ".join(f"{name} {w['before'][0]:.1f}→{w['after'][0]:.1f}" for name, w in r.load.items())
        + " (before→after each phase; all three averages are in the JSON)"
        for r in runs
    )
    note = (
        f"\n\nMeasured with `agentrag bench memory` on {first.cpus} CPU cores, embedded Chroma, "
        f"embedder {first.embedder}; corpus: {first.corpus}. Search latency is end to end through "
        f"`store.search`, query embedding included; {first.search['hybrid']['pooled']['n'] // first.repeats} "
        f"questions, the three modes interleaved query by query (order rotated per query), {first.repeats} "
        "repeats; a cell is the pooled p50 / p95 and, in brackets, the range of the repeats' p95s. "
        "The breakdown times the hybrid search's own steps (query embedding, Chroma dense query, BM25, fusion; "
        "rest = item reads and hit building). \"Cached\" rows serve the query vector from a cache; the cold rows "
        "are what a new question costs.\n\nPer run:\n" + per_run
    )
    return f"{head}\n{sep}\n{body}{note}\n"


def record(result: BenchResult, out_stem: Path) -> None:
    """Merge ``result`` into ``<out_stem>.json`` (keyed by item count) and rewrite ``<out_stem>.md``.

    Runs recorded by an older version of the benchmark (another schema) are dropped
    with a warning rather than mixed into a table they cannot fill.
    """
    json_path, md_path = out_stem.with_suffix(".json"), out_stem.with_suffix(".md")
    old: dict[str, object] = json.loads(json_path.read_text()) if json_path.is_file() else {}
    runs: dict[str, BenchResult] = {}
    for key, value in old.items():
        try:
            runs[key] = BenchResult.model_validate(value)
        except ValidationError:
            log.warning("dropping the %s-item run of %s: recorded by an older benchmark", key, json_path)
    runs[str(result.items)] = result
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({k: v.model_dump(mode="json") for k, v in runs.items()}, indent=2) + "\n")
    md_path.write_text("# Memory benchmark\n\n" + to_markdown(list(runs.values())))
