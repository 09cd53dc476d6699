"""The serve benchmark's JSON record and Markdown table (``benchmarks/serve/serve.{json,md}``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from agentrag.server.bench import Latency, ServeBenchResult


def _lat(x: Latency | None) -> str:
    return "-" if x is None else f"{x.p50_ms:,.0f} / {x.p95_ms:,.0f}"


def to_markdown(runs: Sequence[ServeBenchResult]) -> str:
    """One row per run, then where each ran (machine and load)."""
    head = (
        "| backend | stores | workers | sessions x turns | turns done | errors | turns/s "
        "| TTFT p50 / p95 ms | TTLT p50 / p95 ms | remember p50 / p95 ms |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    rows = [
        f"| {r.backend} | {r.stores} | {r.workers} | {r.sessions} x {r.turns_per_session} | {r.turns_done}"
        f"{f' ({r.turns_skipped} skipped)' if r.turns_skipped else ''} | {r.errors} | {r.turns_per_s:.2f} "
        f"| {_lat(r.ttft)} | {_lat(r.ttlt)} | {_lat(r.remember)} |"
        for r in runs
    ]
    where = sorted({
        f"{r.machine.get('cpu')}, {r.machine.get('cores')} cores" for r in runs
    })
    loads = "; ".join(
        f"{r.backend}/{r.workers}w at {r.when}: load {r.load_before[0]:.1f} before, "
        f"{r.machine.get('load_avg', [0.0])[0]:.1f} after" for r in runs
    )
    return head + "\n".join(rows) + f"\n\nMachine: {'; '.join(where)}. Load average (1 min): {loads}.\n"


def record(result: ServeBenchResult, path: Path) -> list[ServeBenchResult]:
    """Append ``result`` to ``<path>.json`` (a ``runs`` list) and rewrite ``<path>.md`` from all runs."""
    js, md = path.with_suffix(".json"), path.with_suffix(".md")
    js.parent.mkdir(parents=True, exist_ok=True)
    runs: list[ServeBenchResult] = []
    if js.exists():
        runs = [ServeBenchResult.model_validate(r) for r in json.loads(js.read_text(encoding="utf-8"))["runs"]]
    runs.append(result)
    js.write_text(json.dumps({"runs": [r.model_dump(mode="json") for r in runs]}, indent=2) + "\n", encoding="utf-8")
    md.write_text(to_markdown(runs), encoding="utf-8")
    return runs
