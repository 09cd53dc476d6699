"""The derivation queue's contract as a pytest mixin: a backend proves itself with one subclass.

Like ``ledger_contract``::

    class TestMyQueue(QueueContractTests):
        @pytest.fixture
        def queue_factory(self, tmp_path):
            return lambda clock: MyQueue(tmp_path / "q", clock=clock)  # every call: a new handle, SAME store

Each call of ``queue_factory`` stands for another worker process on the same
state store; all handles share one ``FakeClock``, so leases and retry delays
are tested without sleeping. Handles are closed by the mixin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from agentrag.errors import InputError
from agentrag.ledger.queue_base import Clock, JobQueue, job_id

QueueFactory = Callable[[Clock], JobQueue]
LEASE = 30.0


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class QueueContractTests:
    """Behaviour every ``JobQueue`` backend must show (see ``agentrag/ledger/queue_base.py``).

    A backend's test class subclasses this and provides the ``queue_factory`` fixture (a
    ``QueueFactory``: new handles on one shared store); without it pytest reports the fixture
    as not found, so a backend cannot pass the contract by forgetting it.
    """

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def handles(self, queue_factory: QueueFactory, clock: FakeClock) -> Iterator[Callable[[], JobQueue]]:
        opened: list[JobQueue] = []

        def open_one() -> JobQueue:
            opened.append(queue_factory(clock))
            return opened[-1]

        yield open_one
        for h in opened:
            h.close()

    @pytest.fixture
    def queue(self, handles: Callable[[], JobQueue]) -> JobQueue:
        return handles()

    def test_is_a_queue(self, queue: JobQueue) -> None:
        assert isinstance(queue, JobQueue)

    def test_enqueue_is_idempotent_and_durable(self, queue: JobQueue, handles: Callable[[], JobQueue]) -> None:
        first = queue.enqueue("ns", ["r-2", "r-1"])
        again = queue.enqueue("ns", ["r-1", "r-2"])  # a retried request: same turn, same job
        assert again.id == first.id == job_id("ns", "derive", ["r-1", "r-2"])
        assert (first.status, first.attempts, first.item_ids) == ("pending", 0, ("r-2", "r-1"))
        queue.close()
        reopened = handles()  # "after a restart"
        assert [j.id for j in reopened.jobs()] == [first.id]
        assert reopened.stats().counts == {"pending": 1, "running": 0, "done": 0, "failed": 0}

    def test_a_job_is_leased_to_one_worker_and_completed_by_it(
        self, queue: JobQueue, handles: Callable[[], JobQueue]
    ) -> None:
        other = handles()
        job = queue.enqueue("ns", ["r-1"])
        mine = queue.claim("w1", LEASE)
        assert mine is not None and mine.id == job.id
        assert (mine.status, mine.attempts, mine.lease_owner) == ("running", 1, "w1")
        assert other.claim("w2", LEASE) is None
        assert not other.complete(job.id, "w2")  # not its lease
        assert queue.complete(job.id, "w1")
        done = other.get(job.id)
        assert done is not None and done.status == "done" and done.lease_owner is None
        assert other.claim("w2", LEASE) is None  # done is done

    def test_jobs_of_a_namespace_run_in_order_other_namespaces_in_parallel(self, queue: JobQueue) -> None:
        a1, a2 = queue.enqueue("a", ["r-1"]), queue.enqueue("a", ["r-2"])
        b1 = queue.enqueue("b", ["r-3"])
        first, second = queue.claim("w1", LEASE), queue.claim("w2", LEASE)
        assert first is not None and second is not None
        assert (first.id, second.id) == (a1.id, b1.id)
        assert queue.claim("w3", LEASE) is None  # a2 waits for a1
        assert queue.complete(b1.id, "w2")
        assert queue.claim("w3", LEASE) is None  # still waiting: b1 finishing does not free a's queue
        assert queue.complete(a1.id, "w1")
        third = queue.claim("w3", LEASE)
        assert third is not None and third.id == a2.id

    def test_a_lost_workers_job_is_claimed_again_after_its_lease(
        self, queue: JobQueue, handles: Callable[[], JobQueue], clock: FakeClock
    ) -> None:
        other = handles()
        job = queue.enqueue("ns", ["r-1"])
        assert queue.claim("dead", LEASE) is not None
        clock.advance(LEASE * 0.9)
        assert other.claim("w2", LEASE) is None  # still leased
        assert other.stats().expired_leases == 0
        clock.advance(LEASE * 0.2)
        assert other.stats().expired_leases == 1
        taken = other.claim("w2", LEASE)
        assert taken is not None and (taken.id, taken.attempts, taken.lease_owner) == (job.id, 2, "w2")
        assert not queue.complete(job.id, "dead")  # the old worker came back: its word counts for nothing
        assert other.complete(job.id, "w2")

    def test_renewing_keeps_the_lease(
        self, queue: JobQueue, handles: Callable[[], JobQueue], clock: FakeClock
    ) -> None:
        other = handles()
        job = queue.enqueue("ns", ["r-1"])
        assert queue.claim("w1", LEASE) is not None
        for _ in range(3):
            clock.advance(LEASE * 0.6)
            assert queue.renew(job.id, "w1", LEASE)
        assert other.claim("w2", LEASE) is None
        assert not other.renew(job.id, "w2", LEASE)

    def test_failures_retry_after_a_delay_then_stop(self, queue: JobQueue, clock: FakeClock) -> None:
        job = queue.enqueue("ns", ["r-1"], max_attempts=2)
        later = queue.enqueue("ns", ["r-2"])
        assert queue.claim("w1", LEASE) is not None
        back = queue.fail(job.id, "w1", "BackendError: generator down", 10.0)
        assert back is not None and (back.status, back.last_error) == ("pending", "BackendError: generator down")
        assert queue.claim("w1", LEASE) is None  # waiting out the delay; the later job waits behind it
        clock.advance(10.0)
        again = queue.claim("w1", LEASE)
        assert again is not None and (again.id, again.attempts) == (job.id, 2)
        gone = queue.fail(job.id, "w1", "BackendError: still down", 10.0)
        assert gone is not None and (gone.status, gone.attempts) == ("failed", 2)
        assert queue.stats().counts["failed"] == 1
        nxt = queue.claim("w1", LEASE)  # a failed job does not block its namespace forever
        assert nxt is not None and nxt.id == later.id
        assert queue.retry() == 1
        revived = queue.get(job.id)
        assert revived is not None and (revived.status, revived.attempts) == ("pending", 0)

    def test_a_job_whose_worker_died_on_its_last_try_is_failed(self, queue: JobQueue, clock: FakeClock) -> None:
        job = queue.enqueue("ns", ["r-1"], max_attempts=1)
        assert queue.claim("dead", LEASE) is not None
        clock.advance(LEASE + 1)
        assert queue.claim("w2", LEASE) is None
        failed = queue.get(job.id)
        assert failed is not None and failed.status == "failed"
        assert "lease expired" in (failed.last_error or "")

    def test_prune_deletes_only_done_jobs_older_than_asked(self, queue: JobQueue, clock: FakeClock) -> None:
        old = queue.enqueue("a", ["r-1"])
        assert queue.claim("w1", LEASE) is not None and queue.complete(old.id, "w1")
        broken = queue.enqueue("b", ["r-2"], max_attempts=1)
        assert queue.claim("w1", LEASE) is not None
        queue.fail(broken.id, "w1", "BackendError: down", 0.0)
        clock.advance(100.0)
        recent = queue.enqueue("a", ["r-3"])
        assert queue.claim("w1", LEASE) is not None and queue.complete(recent.id, "w1")
        waiting = queue.enqueue("c", ["r-4"])
        clock.advance(10.0)
        assert queue.prune(50.0) == 1  # the done job finished 110 s ago; the recent one 10 s ago
        assert queue.get(old.id) is None
        assert [j.id for j in queue.jobs()] == [broken.id, recent.id, waiting.id]  # failed and pending stay
        assert queue.prune(0.0) == 1 and queue.get(recent.id) is None
        again = queue.enqueue("a", ["r-1"])  # a pruned job's items can be queued again
        assert again.status == "pending" and again.attempts == 0
        with pytest.raises(InputError):
            queue.prune(-1.0)

    def test_stats_report_the_oldest_pending_age(self, queue: JobQueue, clock: FakeClock) -> None:
        assert queue.stats().oldest_pending_age_s is None
        queue.enqueue("a", ["r-1"])
        clock.advance(5.0)
        queue.enqueue("b", ["r-2"])
        clock.advance(2.5)
        stats = queue.stats()
        assert stats.oldest_pending_age_s == pytest.approx(7.5)
        assert stats.counts == {"pending": 2, "running": 0, "done": 0, "failed": 0}
        assert [j.namespace for j in queue.jobs()] == ["a", "b"]
        assert [j.namespace for j in queue.jobs(namespace="b")] == ["b"]

    def test_concurrent_workers_never_share_a_job(self, handles: Callable[[], JobQueue]) -> None:
        setup = handles()
        for n in range(24):
            setup.enqueue(f"ns-{n % 6}", [f"r-{n}"])
        workers = [handles() for _ in range(4)]
        claimed: list[str] = []
        lock = threading.Lock()

        def work(q: JobQueue, name: str) -> None:
            while True:
                job = q.claim(name, LEASE)
                if job is None:
                    if q.stats().counts["pending"] == 0:
                        return
                    continue
                with lock:
                    claimed.append(job.id)
                assert q.complete(job.id, name)

        threads = [threading.Thread(target=work, args=(q, f"w{i}")) for i, q in enumerate(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(claimed) == len(set(claimed)) == 24
        jobs = {j.id: j for j in setup.jobs(limit=100)}
        assert all(j.status == "done" for j in jobs.values())
        for ns in range(6):  # within a namespace, jobs were handed out in enqueue order
            seqs = [jobs[j].seq for j in claimed if jobs[j].namespace == f"ns-{ns}"]
            assert seqs == sorted(seqs)
