"""Remembering off the request path: derivation jobs from the durable queue, and the workers that run them.

A chat turn in ``background`` mode writes its raw item (so the next turn can
use it) and enqueues one job, "derive facts and episodes from these raw items,
check them against memory, refresh on conflict", before the reply returns
(``AgentRAG.chat(..., derive="background")``). Workers (threads started by
``agentrag serve``, or ``agentrag worker`` processes) claim jobs from the queue
in the state store (``agentrag.ledger.queue_base``) and run the ingest graph on
the stored raw items.

Why a re-run writes nothing twice: each job runs on its own checkpoint thread,
named from the job id (``derive:<job id>``, run id a UUID5 of it). A job cut off
mid-graph (worker killed, generator error) resumes from its last checkpoint, so
finished LLM steps are not asked again and their output is the one written; a
job whose graph finished is not run again. The writes themselves are idempotent
too (deterministic item ids; the ledger skips replayed changes).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from agentrag.errors import InputError
from agentrag.ledger.queue_base import Job, JobQueue
from agentrag.llm.usage import UsageTracker
from agentrag.settings import QueueConfig
from agentrag.types import MemoryItem

if TYPE_CHECKING:
    from agentrag.api import AgentRAG, IngestReport

log = logging.getLogger(__name__)

DeriveMode = Literal["inline", "background"]
DERIVE_MODES: tuple[DeriveMode, ...] = ("inline", "background")
_RUNS = uuid.UUID("0d1b6f2e-5a4c-4e0f-9a57-6167656e7472")  # UUID5 namespace for jobs' run ids


def check_mode(derive: object) -> DeriveMode:
    """``derive`` as a mode, or an error listing the valid ones."""
    if derive not in DERIVE_MODES:
        raise InputError(f"derive must be one of {', '.join(DERIVE_MODES)}; got {derive!r}")
    return derive


def enqueue_items(rag: AgentRAG, namespace: str, items: Sequence[MemoryItem]) -> Job | None:
    """Queue the derivation of raw items already written (None when there are none)."""
    ids = [i.id for i in items if i.level == "raw"]
    if not ids:
        return None
    job = rag.queue.enqueue(namespace, ids, max_attempts=rag.settings.queue.max_attempts)
    log.info("queued %s for %d raw item(s) of %r", job.id, len(ids), namespace)
    return job


def run_job(rag: AgentRAG, job: Job) -> IngestReport:
    """Derive facts and episodes for one job's raw items; resumes or skips a run that already happened.

    A run is finished only when its latest checkpoint has no tasks left, not when
    ``next`` is empty. Checkpoints are saved in the background (LangGraph's default
    ``async`` durability): a node's writes are saved as soon as it ends, the
    checkpoint after it a moment later, while the next node already runs. A worker
    killed in between (a loaded machine widens the gap) leaves the previous
    checkpoint with every task's writes saved, which ``get_state`` shows as
    ``next == ()`` with values: taken for "already derived", the job was marked
    done with no fact written. Resuming such a run applies the saved writes (the
    node is not run again) and continues with the next node.
    """
    from agentrag.api import IngestReport

    tracker = UsageTracker()
    scope = rag.runner.scope(job.namespace, f"derive:{job.id}", run_id=str(uuid.uuid5(_RUNS, job.id)))
    snapshot = rag.runner.graph("ingest").get_state(rag.runner.config(scope, "ingest"))
    if snapshot.next or snapshot.tasks:
        where = ", ".join(snapshot.next) or "the step after " + ", ".join(t.name for t in snapshot.tasks)
        log.info("%s: resuming at %s", job.id, where)
        out = rag.runner.invoke("ingest", None, scope, rag.deps, [tracker])
    elif snapshot.values:
        log.info("%s: already derived; nothing to do", job.id)
        return IngestReport()
    else:
        by_id = {i.id: i for i in rag.memory.get(job.namespace, list(job.item_ids))}
        raw = [by_id[i] for i in job.item_ids if i in by_id and by_id[i].level == "raw"]
        if not raw:  # forgotten before it was derived
            return IngestReport()
        values = {"namespace": job.namespace, "items": raw, "derive": True, "stored": True}
        out = rag.runner.invoke("ingest", values, scope, rag.deps, [tracker])
    return IngestReport(raw=len(job.item_ids)).merge(out).model_copy(update={"usage": tracker.total})


class _Heartbeat:
    """Renews a job's lease every third of the lease while the job runs."""

    def __init__(self, queue: JobQueue, job: Job, owner: str, lease_s: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(queue, job, owner, lease_s), name=f"lease-{job.id}", daemon=True
        )
        self._thread.start()

    def _beat(self, queue: JobQueue, job: Job, owner: str, lease_s: float) -> None:
        while not self._stop.wait(lease_s / 3):
            if not queue.renew(job.id, owner, lease_s):
                log.warning("%s: lease lost to another worker; its result will be ignored", job.id)
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Worker:
    """Claims jobs and runs them, one at a time, until stopped; several may share one ``AgentRAG``."""

    def __init__(self, rag: AgentRAG, *, name: str | None = None) -> None:
        self.rag = rag
        self.config: QueueConfig = rag.settings.queue
        self.owner = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> Job | None:
        """Claim and run one job; return it as it ended (None when nothing could be claimed)."""
        queue = self.rag.queue
        job = queue.claim(self.owner, self.config.lease_s)
        if job is None:
            return None
        log.info("%s: try %d of %d by %s", job.id, job.attempts, job.max_attempts, self.owner)
        beat = _Heartbeat(queue, job, self.owner, self.config.lease_s)
        try:
            run_job(self.rag, job)
        except Exception as exc:  # any failure is the job's: record it, retry later, keep serving
            beat.stop()
            log.warning("%s failed (try %d): %s: %s", job.id, job.attempts, type(exc).__name__, exc)
            wait = self.config.retry_base_s * 2 ** max(0, job.attempts - 1)
            return queue.fail(job.id, self.owner, f"{type(exc).__name__}: {exc}", wait)
        beat.stop()
        queue.complete(job.id, self.owner)
        return queue.get(job.id)

    def drain(self) -> int:
        """Run jobs until none is pending or running (waiting out leases and retry delays); return jobs run."""
        ran = 0
        while not self._stop.is_set():
            if self.run_once() is not None:
                ran += 1
                continue
            counts = self.rag.queue.stats().counts
            if counts["pending"] == 0 and counts["running"] == 0:
                break
            self._stop.wait(self.config.poll_s)
        return ran

    def serve(self) -> None:
        """Run jobs until ``stop`` is called, polling every ``queue.poll_s`` when idle."""
        while not self._stop.is_set() and not self.rag.closed:
            try:
                if self.run_once() is not None:
                    continue
            except Exception:  # the state store is away: keep the worker alive and try again
                if self.rag.closed:  # closed under a worker that outlived its stop timeout: nothing to retry
                    log.info("derivation worker %s: stopped, its AgentRAG was closed", self.owner)
                    break
                log.exception("derivation worker %s: queue unavailable", self.owner)
            self._stop.wait(self.config.poll_s)

    def start(self) -> Worker:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self.serve, name=f"derive-{self.owner}", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the worker to stop after its current job (``stop`` also waits)."""
        self._stop.set()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the worker to stop after its current job and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def start_workers(rag: AgentRAG, n: int) -> list[Worker]:
    """``n`` worker threads on one ``AgentRAG``."""
    return [Worker(rag).start() for _ in range(n)]


def start_derivation(rag: AgentRAG) -> list[Worker]:
    """What ``agentrag serve`` starts: ``queue.workers`` threads in background mode, none inline."""
    config = rag.settings.queue
    if config.mode != "background" or config.workers == 0:
        return []
    rag.queue  # noqa: B018  (open it once here, not concurrently from the first request and the workers)
    return start_workers(rag, config.workers)


def stop_workers(workers: Sequence[Worker], timeout: float = 30.0) -> None:
    """Stop workers: each finishes its current job; an unfinished one is resumed from the queue later."""
    for w in workers:
        w.request_stop()
    for w in workers:
        w.stop(timeout)
