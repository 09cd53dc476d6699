"""``agentrag eval``: run methods x datasets and rebuild reports.

A typer app the main CLI mounts when the ``eval`` extra is installed (evals ships in the wheel);
also runnable as ``python -m evals``. Errors the user can fix print one red line.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from agentrag.cli_errors import print_error
from agentrag.errors import AgentRagError, ConfigError
from evals.methods import METHODS

# Before any OpenMP runtime starts: llama.cpp's threads spin while they wait, which on a shared
# 2-core machine made a 1,256-token prompt take 95 s instead of 26 s (measured).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

eval_app = typer.Typer(
    name="eval", help="Evaluate agentrag against baselines on LoCoMo, HotpotQA, MuSiQue or NQ.",
    no_args_is_help=True, pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


class RichReporter:
    """Progress bars: one for memory builds, one per method."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def start(self, key: str, description: str, total: int, done: int = 0) -> None:
        """Create or reset the bar for ``key``."""
        if key in self.tasks:
            self.progress.update(self.tasks[key], description=description, total=total or None, completed=done)
        else:
            self.tasks[key] = self.progress.add_task(description, total=total or None, completed=done)

    def advance(self, key: str, n: int = 1) -> None:
        """Move the bar for ``key``."""
        self.progress.advance(self.tasks[key], n)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)], force=True,
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


@eval_app.command("run")
def run(
    dataset: Annotated[str, typer.Option(help="locomo | hotpotqa | musique | nq")],
    path: Annotated[Path, typer.Option(help="dataset file (e.g. ../shared/data/locomo/locomo10.dev.json)")],
    out: Annotated[Path, typer.Option(help="run folder (re-running with the same folder resumes)")],
    methods: Annotated[str, typer.Option(help=f"comma-separated: {','.join(METHODS)} or all")] = "all",
    backend: Annotated[str, typer.Option(help="local (llama.cpp on CPU) | openai (vLLM server)")] = "local",
    base_url: Annotated[str | None, typer.Option(help="server URL, e.g. http://127.0.0.1:8000/v1")] = None,
    model: Annotated[str | None, typer.Option(help="served model name (openai) or GGUF path (local)")] = None,
    limit: Annotated[int | None, typer.Option(help="at most N questions (after the filters)")] = None,
    per_category: Annotated[int | None, typer.Option(help="first N questions of each category")] = None,
    offset: Annotated[int, typer.Option(help="skip the first N selected questions (fit splits, quick checks)")] = 0,
    interleave: Annotated[bool, typer.Option(help="question by question across methods (paired if cut)")] = False,
    samples: Annotated[str, typer.Option(help="comma-separated sample ids (LoCoMo: conv-26,...)")] = "",
    corpus: Annotated[Path | None, typer.Option(help="nq: passage corpus (default: raw/ beside --path)")] = None,
    concurrency: Annotated[int, typer.Option(help="questions in flight at once (use 8+ with a vLLM server)")] = 1,
    top_k: Annotated[int, typer.Option(help="items per search")] = 5,
    judge: Annotated[bool, typer.Option(help="grade answers with an LLM judge (the run's generator)")] = True,
    iter_rounds: Annotated[int, typer.Option(help="Iter-RetGen rounds")] = 2,
    window: Annotated[int | None, typer.Option(help="full_context window in tokens (default: model n_ctx)")] = None,
    reply_cache: Annotated[
        Path | None, typer.Option(help="memoise generator replies in this SQLite file (greedy: same answers)")
    ] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Run (or resume) an evaluation, then write summary.json, report.md and plots/ into OUT."""
    from evals.runner import RunConfig, run_eval

    _setup_logging(verbose)
    try:
        cfg = RunConfig(
            dataset=dataset, path=path, corpus=corpus, methods=tuple(m for m in methods.split(",") if m),
            backend=backend, base_url=base_url, model=model, limit=limit, per_category=per_category,
            offset=offset, interleave=interleave,
            samples=tuple(s for s in samples.split(",") if s), concurrency=concurrency, top_k=top_k, judge=judge,
            iter_rounds=iter_rounds, window_tokens=window, reply_cache=reply_cache, out=out,
        )
        t0 = time.perf_counter()
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console,
        ) as progress:
            run_eval(cfg, RichReporter(progress))
    except AgentRagError as exc:
        print_error(err_console, exc)
        raise typer.Exit(2) from None
    except ValueError as exc:  # pydantic validation of the options
        print_error(err_console, exc)
        raise typer.Exit(2) from None
    console.print(f"done in {time.perf_counter() - t0:,.0f}s; report: {out / 'report.md'}")
    _print_table(out)


@eval_app.command("report")
def report(
    out: Annotated[Path, typer.Argument(help="run folder written by `eval run`")],
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Rebuild summary.json, report.md and the plots from a run folder's records."""
    from evals.report import build_report

    _setup_logging(verbose)
    if not (out / "records").is_dir():
        print_error(err_console, f"{out} has no records/ folder; is it a run folder?")
        raise typer.Exit(2)
    build_report(out)
    console.print(f"report: {out / 'report.md'}")
    _print_table(out)


@eval_app.command("judge")
def judge(
    out: Annotated[Path, typer.Argument(help="run folder written by `eval run`")],
    backend: Annotated[str, typer.Option(help="local | openai")] = "local",
    base_url: Annotated[str | None, typer.Option(help="server URL for --backend openai")] = None,
    model: Annotated[str | None, typer.Option(help="served model name (openai) or GGUF path (local)")] = None,
    concurrency: Annotated[int, typer.Option(help="answers graded at once (servers only)")] = 1,
    regrade: Annotated[bool, typer.Option(help="grade again answers that already have a verdict")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Grade a finished run's answers with an LLM judge (any backend), then rebuild the report."""
    from agentrag.llm.factory import make_llm
    from agentrag.prompts import default_library
    from evals.judge import Judge, judge_run
    from evals.report import build_report
    from evals.runner import alive, llm_config, model_name

    _setup_logging(verbose)
    lock = out / "run.lock"
    holder = lock.read_text(encoding="utf-8").strip() if lock.is_file() else ""
    try:
        if not (out / "records").is_dir():
            raise ConfigError(f"{out} has no records/ folder; is it a run folder?")
        if holder.isdigit() and alive(int(holder)):
            raise ConfigError(f"{out} is being written by process {holder}; judge it when the run has finished")
        llm = make_llm(llm_config(backend, base_url, model))
        grader = Judge(llm, default_library(), backend=backend, model=model_name(llm))
        with console.status("judging answers"):
            n = judge_run(out, grader, concurrency=concurrency, regrade=regrade)
        build_report(out)
    except AgentRagError as exc:
        print_error(err_console, exc)
        raise typer.Exit(2) from None
    console.print(f"judged {n} answers; report: {out / 'report.md'}")
    _print_table(out)


@eval_app.command("calibrate")
def calibrate_cmd(
    out: Annotated[Path, typer.Option(help="folder for decisions.json, items.jsonl and the fit memory")],
    hotpotqa: Annotated[Path, typer.Option(help="HotpotQA dev file")],
    locomo: Annotated[Path | None, typer.Option(help="LoCoMo dev file (for the abstention threshold)")] = None,
    offset: Annotated[int, typer.Option(help="skip the reported HotpotQA questions (first N)")] = 40,
    limit: Annotated[int, typer.Option(help="HotpotQA fit questions")] = 30,
    locomo_samples: Annotated[str, typer.Option(help="LoCoMo conversations to fit on (never a reported one)")] = "",
    locomo_per_category: Annotated[int, typer.Option(help="LoCoMo fit questions per category")] = 6,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Fit the Judge's decision thresholds on a dev split that excludes the reported questions."""
    import json

    from evals.calibrate import calibrate

    _setup_logging(verbose)
    samples = tuple(s for s in locomo_samples.split(",") if s)
    try:
        with console.status("calibrating decisions"):
            summary = calibrate(out, hotpotqa, locomo, offset, limit, samples, locomo_per_category)
    except AgentRagError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    console.print_json(json.dumps(summary))


def _print_table(out: Path) -> None:
    import json

    from rich.table import Table

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    table = Table(title=str(out))
    for col in ("method", "n", "score", "F1", "abstain", "judge", "prompt tok/q", "calls/q", "p50 s"):
        table.add_column(col, justify="right" if col != "method" else "left")
    for name, v in summary["methods"].items():
        o = v["overall"]
        cells = [o["n"], o["score"], o["f1"], o["abstain_ok"], o["judge"], o["prompt_tokens"], o["calls"],
                 o["latency_p50"]]
        table.add_row(name, *["-" if c is None else f"{c:.3f}" if isinstance(c, float) else str(c) for c in cells])
    console.print(table)


if __name__ == "__main__":
    eval_app()
