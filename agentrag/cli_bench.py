"""``agentrag bench ...``: measurements that write JSON and a Markdown table.

Light at import (see ``agentrag/cli.py``): the benchmark code loads when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentrag.cli_common import App, console, print_json, say, settings_for

bench_app = App(help="Benchmarks.")


@bench_app.callback()
def bench_main() -> None:
    """Benchmarks (a callback keeps ``bench`` a group even with one command)."""


@bench_app.command("memory")
def bench_memory(
    items: Annotated[int, typer.Option(help="how many memory items")] = 10_000,
    queries: Annotated[int, typer.Option(help="questions timed per search mode")] = 200,
    repeats: Annotated[int, typer.Option(help="interleaved search passes over the questions")] = 3,
    embed_sample: Annotated[int, typer.Option(help="items for the with-embedding ingest run")] = 2000,
    corpus: Annotated[Path | None, typer.Option(help="data folder with locomo/, hotpotqa/, musique/")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="where corpus vectors are cached between runs")] = None,
    record: Annotated[Path | None, typer.Option(help="merge into <PATH>.json and rewrite <PATH>.md")] = None,
    variants: Annotated[
        str, typer.Option(help="vectors of repeated-with-variation items: embed | perturb (base vector + noise)")
    ] = "embed",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Ingest throughput and dense / BM25 / hybrid search latency at N items."""
    from agentrag.errors import InputError
    from agentrag.memory.bench import record as record_result
    from agentrag.memory.bench import run_memory_bench, to_markdown

    if variants not in ("embed", "perturb"):
        raise InputError(f"unknown --variants {variants!r}; valid choices: embed, perturb")
    if items < 1 or queries < 1 or embed_sample < 1 or repeats < 1:
        raise InputError("--items, --queries, --embed-sample and --repeats must be positive")
    if corpus is not None and not (corpus / "locomo").is_dir():
        raise InputError(f"{corpus} has no locomo/ folder; point --corpus at the shared data folder")
    cache = cache_dir or settings_for(need_llm=False).data_dir / "bench-cache"
    result = run_memory_bench(
        items,
        corpus_dir=corpus,
        cache_dir=cache,
        n_queries=queries,
        embed_sample=embed_sample,
        repeats=repeats,
        variants=variants,
        progress=lambda msg: say(msg, style="dim", stderr=True),
    )
    if record is not None:
        record_result(result, record)
    if as_json:
        print_json(result.model_dump_json())
    else:
        console().print(to_markdown([result]), markup=False)
