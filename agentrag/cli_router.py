"""``agentrag router``: retrain the learned router from evaluation run folders.

Mounted by ``agentrag/cli.py``. Everything heavy (numpy, Chroma, the embedder,
the evaluation harness) is imported inside the command, so ``agentrag --help``
stays fast. Training reads the records of ``closed_book`` and ``naive_rag``
(and ``iter_retgen`` / ``adaptive_note`` when present) to build silver labels,
probes each run's memory for the features, and needs the source checkout's
``evals`` package (it is not in the wheel).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agentrag.cli_common import App

router_app = App(name="router", help="The learned query-complexity router: retrain its weights.")


@router_app.callback()
def router_main() -> None:
    """The learned router (a callback keeps ``router`` a group even with one command)."""
console = Console()
err_console = Console(stderr=True)


@router_app.command("train")
def train(
    inputs: Annotated[
        list[Path], typer.Argument(help="run folders (`python -m evals run`) and/or saved training tables (.jsonl)")
    ],
    out: Annotated[Path, typer.Option(help="weights file to write (JSON)")],
    table: Annotated[Path | None, typer.Option(help="also save the labelled table here (JSONL)")] = None,
    report: Annotated[Path | None, typer.Option(help="held-out evaluation JSON (default: OUT with .eval.json)")] = None,
    dev_share: Annotated[float, typer.Option(help="share of questions held out for the evaluation")] = 0.2,
    l2: Annotated[float | None, typer.Option(help="L2 penalty (default: chosen by cross-validation)")] = None,
    balance: Annotated[float, typer.Option(help="class weighting: 0 none, 1 fully balanced")] = 0.5,
    partial: Annotated[
        bool, typer.Option(help="also label questions only closed_book reached (naive_rag not run on them)")
    ] = False,
) -> None:
    """Label questions by the cheapest method that answered them, fit the router, report held-out accuracy."""
    import os

    from agentrag.errors import AgentRagError

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    try:
        try:
            from evals.router import collect, write_table
            from evals.router import train as fit_router
        except ImportError as exc:
            raise AgentRagError(f"`agentrag router train` needs the source checkout's evals package ({exc})") from exc
        if not 0.0 <= dev_share < 1.0:
            raise AgentRagError(f"--dev-share must be in [0, 1), got {dev_share}")
        rows = collect(inputs, partial=partial)
        if table:
            write_table(table, rows)
        model, evaluation = fit_router(rows, dev_share=dev_share, l2=l2, balance=balance)
        model.save(out)
        report = report or out.with_suffix(".eval.json")
        report.write_text(json.dumps(evaluation, indent=2) + "\n", encoding="utf-8")
    except AgentRagError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    held = evaluation["held_out"]
    console.print(
        f"{len(rows)} questions; labels {evaluation['fit']['labels']} (fit); held-out n={held['n']} "
        f"accuracy={held.get('accuracy')}; weights: {out}; evaluation: {report}",
        soft_wrap=True,
    )
