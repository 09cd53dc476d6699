"""``agentrag bench ...``: measurements that write JSON and a Markdown table.

Light at import (see ``agentrag/cli.py``): the benchmark code loads when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentrag.cli_common import App, Backend, BaseUrl, Model, Script, console, print_json, say, settings_for

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


@bench_app.command("serve")
def bench_serve(
    sessions: Annotated[int, typer.Option(help="concurrent chat sessions")] = 50,
    turns: Annotated[int, typer.Option(help="turns per session (remember + streamed answer)")] = 2,
    workers: Annotated[list[int], typer.Option(help="worker counts to run, e.g. --workers 1 --workers 2")] = [1],  # noqa: B006
    time_limit: Annotated[float, typer.Option(help="no turn starts after this many seconds")] = 300.0,
    request_timeout: Annotated[float, typer.Option(help="seconds before one request counts as an error")] = 120.0,
    backend: Backend = None,
    base_url: BaseUrl = None,
    model: Model = None,
    script: Script = None,
    record: Annotated[Path | None, typer.Option(help="append to <PATH>.json and rewrite <PATH>.md")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """K concurrent chat sessions against `agentrag serve` on loopback: throughput, TTFT/TTLT p50/p95, errors."""
    from agentrag.errors import InputError
    from agentrag.server.bench import SCRIPTED_REPLIES, run_serve_bench
    from agentrag.server.bench_report import record as record_run
    from agentrag.server.bench_report import to_markdown
    from agentrag.settings import ScriptedConfig

    if sessions < 1 or turns < 1 or time_limit <= 0 or request_timeout <= 0 or any(w < 1 for w in workers):
        raise InputError("--sessions, --turns, --workers, --time-limit and --request-timeout must be positive")
    settings = settings_for(backend=backend, base_url=base_url, model=model, script=script)
    if isinstance(settings.llm, ScriptedConfig) and not settings.llm.replies:
        settings = settings.model_copy(update={"llm": ScriptedConfig(replies=SCRIPTED_REPLIES)})
    results = []
    for n in workers:
        result = run_serve_bench(
            settings, backend=settings.llm.kind, workers=n, sessions=sessions, turns=turns,
            time_limit_s=time_limit, request_timeout_s=request_timeout,
            progress=lambda msg: say(msg, style="dim", stderr=True),
        )
        results.append(result)
        if record is not None:
            record_run(result, record)
    if as_json:
        print_json("[" + ",".join(r.model_dump_json() for r in results) + "]")
    else:
        console().print(to_markdown(results), markup=False)
