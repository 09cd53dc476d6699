"""``agentrag queue ...``: see and unstick the derivation queue; ``agentrag worker`` runs it (see cli.py).

These commands only open the state store (never the generator or the embedder),
so they start fast and work while every worker is down.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from agentrag.cli_common import App, console, print_json, say, settings_for

if TYPE_CHECKING:
    from agentrag.ledger.queue_base import JobQueue

queue_app = App(help="See the derivation queue (facts and episodes owed to chat turns).")


@contextmanager
def _queue() -> Iterator[JobQueue]:
    from agentrag.ledger import open_queue

    queue = open_queue(settings_for(need_llm=False))
    try:
        yield queue
    finally:
        queue.close()


@queue_app.command("status")
def status_cmd(
    failed: Annotated[int, typer.Option(help="also list up to this many failed jobs with their last error")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Jobs per status, the oldest pending job's age, expired leases, and the latest failures."""
    with _queue() as queue:
        stats = queue.stats()
        failures = queue.jobs(status="failed", limit=failed) if failed else []
    if as_json:
        out = {**stats.model_dump(mode="json"), "failed_jobs": [j.model_dump(mode="json") for j in failures]}
        print_json(json.dumps(out))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table("status", "jobs")
    for name, n in stats.counts.items():
        table.add_row(Text(name), Text(str(n)))
    console().print(table)
    age = stats.oldest_pending_age_s
    say(f"oldest pending: {'none' if age is None else f'{age:.1f} s'}; expired leases: {stats.expired_leases}")
    for job in failures:
        say(f"failed {job.id} ({job.namespace}, {job.attempts} tries): {job.last_error}")


@queue_app.command("retry")
def retry_cmd(
    job_ids: Annotated[list[str] | None, typer.Argument(help="failed jobs to put back (default: all failed)")] = None,
) -> None:
    """Put failed jobs back to pending with fresh tries (after fixing what made them fail)."""
    from agentrag.errors import NotFoundError

    with _queue() as queue:
        for jid in job_ids or []:
            if queue.get(jid) is None:
                raise NotFoundError(f"no job {jid!r} in the queue (see `agentrag queue status`)")
        n = queue.retry(job_ids or [])
    say(f"{n} job(s) back to pending")


@queue_app.command("prune")
def prune_cmd(
    older_than_days: Annotated[
        float, typer.Option("--older-than-days", help="delete done jobs that finished more than this many days ago")
    ] = 7.0,
) -> None:
    """Delete finished (done) jobs older than N days; failed and open jobs stay. The table otherwise only grows."""
    from agentrag.errors import InputError

    if older_than_days < 0:
        raise InputError(f"--older-than-days must be >= 0, got {older_than_days}")
    with _queue() as queue:
        n = queue.prune(older_than_days * 86400.0)
    say(f"{n} done job(s) pruned")
