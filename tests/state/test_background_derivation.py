"""Remembering off the request path, in process: real Chroma, the real SQLite state store, a scripted generator.

The fact extractor is scripted to block on chosen turns (an event the test sets),
so "the reply came back before derivation finished" and "this job waited for that
one" are shown by state, never by timing.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient

from agentrag.api import AgentRAG
from agentrag.derivation import _RUNS, Worker, run_job
from agentrag.errors import BackendError, InputError
from agentrag.server.app import create_app

WAIT = 120.0  # generous bound for a loaded 2-core machine; never reached when the code is right


def j(obj: object) -> str:
    return json.dumps(obj)


class Extractor:
    """The scripted fact extractor: one fact per turn it knows; blocks on turns mentioning a held word."""

    FACTS: ClassVar[dict[str, str]] = {"Porto": "Ana lives in Porto.", "Braga": "Ana lives in Braga.", "cello": "Rui plays the cello.",
             "chess": "Rui plays chess.", "Lisbon": "Ana lives in Lisbon."}

    def __init__(self) -> None:
        self.held: dict[str, threading.Event] = {}
        self.entered: dict[str, threading.Event] = {}
        self.seen: list[str] = []

    def hold(self, word: str) -> None:
        self.held[word], self.entered[word] = threading.Event(), threading.Event()

    def __call__(self, messages: list[Any]) -> str:
        text = str(messages[-1].content)
        words = [w for w in self.FACTS if w in text]
        self.seen += words
        for w in words:
            if w in self.held:
                self.entered[w].set()
                if not self.held[w].wait(WAIT):
                    raise TimeoutError(f"the test never released {w!r}")
        return j({"facts": [{"text": self.FACTS[w], "from": [1]} for w in words]})


def script(extractor: Extractor, consistency: Callable[[list[Any]], str] | None = None) -> dict[str, Any]:
    return {
        "retriever/route": j({"kind": "single", "queries": [], "time": ""}),
        "judge/verdict": j({"relevant": [1], "sufficient": True, "missing": [], "conflicts": []}),
        "judge/relevant": "yes",
        "judge/contradict": "no",
        "judge/sufficient": "yes",
        "answerer/cited": j({"answer": "from memory", "citations": [1]}),
        "constructor/facts": extractor,
        "constructor/episode": j({"summary": "a chat"}),
        "judge/consistency": consistency or j({"contradicts": [], "reason": ""}),
        "judge/duplicate": j({"duplicate": False}),
    }


def facts(rag: AgentRAG, ns: str) -> list[str]:
    """The extractor's facts in memory (a turn it knows nothing about falls back to verbatim sentences)."""
    return sorted(i.text for i in rag.memory.list(ns, "fact") if i.text in Extractor.FACTS.values())


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for w in started:
        w.stop(WAIT)


def test_the_reply_returns_before_derivation_and_the_next_turn_sees_the_raw_turn(make_rag, workers) -> None:
    ex = Extractor()
    ex.hold("Porto")
    rag = make_rag(script(ex))
    workers.append(Worker(rag).start())
    first = rag.chat("My sister Ana lives in Porto.", namespace="u1", session_id="s1", derive="background")
    assert first.thread_id
    (job,) = rag.queue.jobs(namespace="u1")
    assert rag.queue.get(job.id).status in ("pending", "running")  # type: ignore[union-attr]
    assert facts(rag, "u1") == []
    assert ex.entered["Porto"].wait(WAIT)  # the worker is inside the extraction now, and stays there
    second = rag.chat("Which city does my sister live in?", namespace="u1", session_id="s1", derive="background")
    assert any("Ana lives in Porto" in e.text for e in second.evidence)  # the raw turn, before any fact exists
    assert facts(rag, "u1") == [] and rag.queue.get(job.id).status == "running"  # type: ignore[union-attr]
    ex.held["Porto"].set()
    wait_until(lambda: rag.queue.stats().counts["done"] == 2, "both turns derived")
    assert facts(rag, "u1") == ["Ana lives in Porto."]
    (fact,) = [i for i in rag.memory.list("u1", "fact") if i.text == "Ana lives in Porto."]
    raw_ids = {i.id for i in rag.memory.list("u1", "raw") if "Porto" in i.text}
    assert set(fact.parents) == raw_ids and set(job.item_ids) == raw_ids


def test_jobs_of_one_namespace_wait_for_each_other_and_others_do_not(make_rag, workers) -> None:
    ex = Extractor()
    ex.hold("Porto")
    rag = make_rag(script(ex))
    rag.chat("Ana lives in Porto.", namespace="ana", derive="background")
    rag.chat("Ana lives in Braga.", namespace="ana", derive="background")
    rag.chat("Rui plays the cello.", namespace="rui", derive="background")
    workers.extend(Worker(rag).start() for _ in range(2))
    assert ex.entered["Porto"].wait(WAIT)
    wait_until(lambda: facts(rag, "rui") == ["Rui plays the cello."], "the other namespace ran meanwhile")
    a1, a2 = rag.queue.jobs(namespace="ana")
    assert rag.queue.get(a1.id).status == "running"  # type: ignore[union-attr]
    assert rag.queue.get(a2.id).status == "pending" and "Braga" not in ex.seen  # type: ignore[union-attr]
    ex.held["Porto"].set()
    wait_until(lambda: rag.queue.stats().counts["done"] == 3, "all derived")
    # Porto before Braga (one namespace, in order); cello ran on the other worker at any point before
    # Braga could (the two workers race to enter the extractor: CI once saw cello first).
    assert sorted(ex.seen) == ["Braga", "Porto", "cello"] and ex.seen[-1] == "Braga"
    assert facts(rag, "ana") == ["Ana lives in Braga.", "Ana lives in Porto."]


def test_a_job_run_twice_writes_once(make_rag) -> None:
    ex = Extractor()
    rag = make_rag(script(ex))
    rag.chat("Rui plays chess on Sundays.", namespace="rui", derive="background")
    (job,) = rag.queue.jobs(namespace="rui")
    report = run_job(rag, job)
    assert report.facts == 1 and facts(rag, "rui") == ["Rui plays chess."]
    entries = [rag.memory.history("rui", i.id) for i in rag.memory.list("rui", None)]
    calls = len(rag.llm.calls)
    again = run_job(rag, job)  # e.g. a worker lost its lease after finishing, and another ran the job
    assert again.facts == 0 and len(rag.llm.calls) == calls
    assert [rag.memory.history("rui", i.id) for i in rag.memory.list("rui", None)] == entries
    assert rag.queue.enqueue("rui", list(job.item_ids)).id == job.id  # the same turn again: the same job


def test_a_job_cut_off_mid_graph_resumes_and_writes_each_change_once(make_rag, workers) -> None:
    ex = Extractor()
    tries: list[int] = []

    def consistency(messages: list[Any]) -> str:
        tries.append(1)
        if len(tries) == 1:
            raise BackendError("generator went away")
        return j({"contradicts": [1], "reason": "Ana moved"})

    rag = make_rag(script(ex, consistency), queue={"retry_base_s": 0.0})
    rag.chat("Ana lives in Braga.", namespace="ana")  # inline: the older fact is in memory at once
    (braga,) = rag.memory.list("ana", "fact")
    rag.chat("Ana lives in Lisbon now.", namespace="ana", derive="background")
    (job,) = rag.queue.jobs(namespace="ana")
    worker = Worker(rag)
    failed = worker.run_once()
    assert failed is not None and failed.status == "pending" and "generator went away" in (failed.last_error or "")
    assert facts(rag, "ana") == ["Ana lives in Braga."]  # nothing derived was written on the failed try
    done = worker.run_once()
    assert done is not None and (done.id, done.status, done.attempts) == (job.id, "done", 2)
    assert ex.seen == ["Braga", "Lisbon"]  # the extraction was not asked again on the second try
    assert len(tries) == 2
    (lisbon,) = [i for i in rag.memory.list("ana", "fact", include_invalid=True) if "Lisbon" in i.text]
    old = rag.memory.history("ana", braga.id)
    assert [e.event for e in old] == ["add", "supersede"] and old[-1].related_id == lisbon.id
    assert [e.event for e in rag.memory.history("ana", lisbon.id)] == ["add"]


def test_a_job_killed_before_its_last_checkpoint_landed_is_resumed_not_taken_as_done(make_rag, monkeypatch) -> None:
    """Checkpoints are saved in the background: a worker killed just after ``select_new`` ended can leave
    that node's writes saved and the checkpoint after it not. ``next`` is then empty though the run is
    unfinished; taken for "already derived", the job was marked done with no fact (test_worker_kill, once)."""
    ex = Extractor()
    tries: list[int] = []

    def extract(messages: list[Any]) -> str:
        tries.append(1)
        if len(tries) == 1:
            raise BackendError("worker killed inside the extraction")
        return ex(messages)

    rag = make_rag({**script(ex), "constructor/facts": extract}, queue={"retry_base_s": 0.0})
    rag.chat("Rui plays chess on Sundays.", namespace="rui", derive="background")
    (job,) = rag.queue.jobs(namespace="rui")
    saver = rag.runner.checkpointer
    put = saver.put

    def in_flight_from_step_1(config: Any, checkpoint: Any, metadata: Any, versions: Any) -> Any:
        return config if metadata.get("step", -1) >= 1 else put(config, checkpoint, metadata, versions)

    monkeypatch.setattr(saver, "put", in_flight_from_step_1)  # the checkpoint after select_new never lands
    worker = Worker(rag)
    failed = worker.run_once()
    assert failed is not None and failed.status == "pending" and "worker killed" in (failed.last_error or "")
    monkeypatch.setattr(saver, "put", put)
    scope = rag.runner.scope("rui", f"derive:{job.id}", run_id=str(uuid.uuid5(_RUNS, job.id)))
    left = rag.runner.graph("ingest").get_state(rag.runner.config(scope, "ingest"))
    assert left.next == () and [t.name for t in left.tasks] == ["select_new"] and left.values  # the state it left
    done = worker.run_once()
    assert done is not None and (done.id, done.status, done.attempts) == (job.id, "done", 2)
    assert facts(rag, "rui") == ["Rui plays chess."] and ex.seen == ["chess"] and len(tries) == 2


def test_chat_refuses_an_unknown_derive_mode(make_rag) -> None:
    rag = make_rag(script(Extractor()))
    with pytest.raises(InputError, match="inline, background"):
        rag.chat("hello there", namespace="x", derive="later")  # type: ignore[arg-type]


def test_the_server_replies_first_derives_in_its_worker_and_shows_the_queue(make_rag) -> None:
    from agentrag.ledger.keys import open_keys

    ex = Extractor()
    ex.hold("Porto")
    rag = make_rag(script(ex), queue={"poll_s": 0.05})
    keys = open_keys(rag.settings)
    acme = {"Authorization": f"Bearer {keys.create('acme')[1]}"}
    other = {"Authorization": f"Bearer {keys.create('other')[1]}"}
    keys.close()
    with TestClient(create_app(rag=rag)) as client:
        assert client.get("/v1/queue").status_code == 401  # the queue needs a key like every route
        assert client.get("/v1/queue", headers=acme).json()["counts"] == {
            "pending": 0, "running": 0, "done": 0, "failed": 0}
        r = client.post("/v1/u1/chat", json={"question": "My sister Ana lives in Porto.", "session_id": "s"},
                        headers=acme)
        assert r.status_code == 200, r.text
        assert ex.entered["Porto"].wait(WAIT)  # the server's own worker took the job after the reply
        body = client.get("/v1/queue", headers=acme).json()
        assert body["counts"]["running"] == 1 and body["expired_leases"] == 0
        assert client.get("/v1/queue", headers=other).json()["counts"]["running"] == 0  # another tenant's job
        ex.held["Porto"].set()
        wait_until(lambda: client.get("/v1/queue", headers=acme).json()["counts"]["done"] == 1,
                   "the server's worker finished")
    assert facts(rag, "acme:u1") == ["Ana lives in Porto."]


def test_a_worker_stops_quietly_when_its_agentrag_is_closed_under_it(make_rag, caplog) -> None:
    """A worker that outlived its stop timeout (a server shutting down) ends instead of logging errors forever."""
    rag = make_rag(script(Extractor()))
    rag.queue  # noqa: B018  (opened, so close() closes it under the worker)
    worker = Worker(rag).start()
    rag.close()
    assert worker._thread is not None
    worker._thread.join(WAIT)
    assert not worker._thread.is_alive()
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


def test_a_turn_forgotten_while_its_facts_are_being_derived_leaves_no_fact(make_rag, workers) -> None:
    """Forget lands between the worker reading the turn and writing its facts: the facts are not stored."""
    ex = Extractor()
    ex.hold("Porto")
    rag = make_rag(script(ex))
    rag.chat("My sister Ana lives in Porto.", namespace="u1", derive="background")
    workers.append(Worker(rag).start())
    assert ex.entered["Porto"].wait(WAIT)  # the worker holds the turn's text and is inside the generator call
    (turn,) = [i for i in rag.memory.list("u1", "raw") if "Porto" in i.text]
    assert rag.forget([turn.id], namespace="u1", reason="user asked") >= 1
    ex.held["Porto"].set()
    wait_until(lambda: rag.queue.stats().counts["done"] == 1, "the job ended")
    texts = [(i.level, i.id, i.text) for lv in ("raw", "fact", "episode") for i in rag.memory.list("u1", lv)]
    assert not [t for t in texts if "Porto" in t[2]], (turn.id, texts)
    assert all(e.dst != turn.id for e in rag.memory.ledger.edges("u1"))
