"""Two long-lived AgentRAG workers, separate data dirs, one Chroma server and one Postgres (issue 10's must-show).

Each worker is its own process with its own caches (BM25, collections, provenance)
and connections; all they share is the Chroma server and the Postgres state store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentrag.settings import HttpChroma
from agentrag.types import MemoryItem

WORKER = Path(__file__).with_name("worker.py")
ROUTE = json.dumps({"kind": "single", "queries": [], "time": ""})
SUFFICIENT = json.dumps({"relevant": [1], "sufficient": True, "missing": [], "conflicts": []})
REPLIES = {
    "retriever/route": ROUTE,
    "judge/verdict": SUFFICIENT,
    "answerer/cited": json.dumps({"answer": "from memory", "citations": [1]}),
    # the shipped (never confident) decisions send every question through the notes loop
    "notes/update": json.dumps({"note": "", "queries": [], "inferences": []}),
    "notes/review": json.dumps({"better": False}),
}


class Worker:
    """One worker process and its JSON-lines pipe."""

    def __init__(self, settings: dict[str, Any], log: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(Path.cwd()), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
        self.stderr = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
        )
        self.log = log

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker died: {self.log.read_text()[-3000:]}")
        out: dict[str, Any] = json.loads(line)
        return out

    def __call__(self, **cmd: Any) -> Any:
        self.send(**cmd)
        out = self.reply()
        assert out["ok"], out
        return out["result"]

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)
        self.stderr.close()


@pytest.fixture(scope="module")
def workers(
    tmp_path_factory: pytest.TempPathFactory, chroma_server: HttpChroma, postgres_server: str
) -> Iterator[tuple[Worker, Worker]]:
    root = tmp_path_factory.mktemp("workers")
    made = []
    for name in ("a", "b"):
        settings = {
            "data_dir": str(root / name),
            "chroma": chroma_server.model_dump(),
            "state": {"kind": "postgres", "dsn": postgres_server},
            "llm": {"kind": "scripted", "replies": REPLIES},
        }
        made.append(Worker(settings, root / f"{name}.log"))
    try:
        for w in made:
            assert w.reply() == {"ok": True, "result": "ready"}
        yield made[0], made[1]
    finally:
        for w in made:
            w.stop()


def _ns(tag: str) -> str:
    return f"{tag}-{time.time_ns()}"


def test_a_memory_added_in_one_worker_is_found_at_once_by_the_other(workers: tuple[Worker, Worker]) -> None:
    a, b = workers
    ns = _ns("shared")
    # b looks first: the namespace does not exist yet, and b remembers that
    assert b(op="search", ns=ns, q="lighthouse keeper", mode="sparse") == []
    assert b(op="search", ns=ns, q="lighthouse keeper", mode="hybrid") == []
    a(op="add", ns=ns, docs=[{"text": "Ines was the lighthouse keeper at Cabo da Roca.", "source_id": "d1"}])
    started = time.perf_counter()
    sparse = b(op="search", ns=ns, q="lighthouse keeper", mode="sparse")  # the very next call, no polling
    delay = time.perf_counter() - started
    assert [h["text"] for h in sparse] == ["Ines was the lighthouse keeper at Cabo da Roca."]
    hybrid = b(op="search", ns=ns, q="who kept the lighthouse?", mode="hybrid")
    assert hybrid[0]["id"] == sparse[0]["id"]
    history = b(op="history", ns=ns, id=sparse[0]["id"])
    assert [(e["event"], e["actor"]) for e in history] == [("add", "constructor")] and history[0]["run_id"]
    # a second write, while b's BM25 index is cached: caught up from the ledger on b's next search
    a(op="add", ns=ns, docs=[{"text": "The keeper's logbook mentions a storm in 1911.", "source_id": "d2"}])
    assert [h["text"] for h in b(op="search", ns=ns, q="logbook storm", mode="sparse")] == [
        "The keeper's logbook mentions a storm in 1911."
    ]
    print(f"cross-process visibility: b's first sparse search after a's add returned in {delay * 1000:.1f} ms")


def test_two_workers_superseding_one_fact_exactly_one_wins(workers: tuple[Worker, Worker]) -> None:
    a, b = workers
    ns = _ns("race")
    old = MemoryItem.new(namespace=ns, level="fact", text="Bob lives in Boston.", source_id="facts", position=0)
    a(op="add_items", ns=ns, items=[old.model_dump(mode="json")])
    assert b(op="search", ns=ns, q="Bob lives", mode="sparse", levels=["fact"])[0]["id"] == old.id  # b caches BM25
    news = [
        MemoryItem.new(namespace=ns, level="fact", text=f"Bob lives in {city}.", source_id="facts", position=n)
        for n, city in ((1, "Denver"), (2, "Austin"))
    ]
    at = time.time() + 1.0
    for w, new in zip((a, b), news, strict=True):
        w.send(
            op="supersede",
            ns=ns,
            old=old.id,
            new=new.model_dump(mode="json"),
            reason="moved",
            actor=f"w-{new.position}",
            at=at,
        )
    replies = [a.reply(), b.reply()]
    won = [r for r in replies if r["ok"]]
    lost = [r for r in replies if not r["ok"]]
    assert len(won) == 1 and len(lost) == 1 and lost[0]["error"] == "ConflictError"
    winner = won[0]["result"]["id"]
    loser = next(n.id for n in news if n.id != winner)
    history = a(op="history", ns=ns, id=old.id)
    assert [(e["event"], e["related_id"]) for e in history] == [("add", None), ("supersede", winner)]
    assert b(op="get", ns=ns, ids=[loser]) == [] and b(op="history", ns=ns, id=loser) == []
    # b's cached index learns of the supersede; the closed fact never comes back
    found = [h["id"] for h in b(op="search", ns=ns, q="Bob lives", mode="sparse", levels=["fact"])]
    assert found == [winner]


def test_a_run_checkpointed_in_one_worker_resumes_in_the_other(workers: tuple[Worker, Worker]) -> None:
    a, b = workers
    ns = _ns("resume")
    a(op="add", ns=ns, docs=[{"text": "The harbour ferry leaves at 7:40 every morning.", "source_id": "ferry"}])
    assert a(op="ask_until", ns=ns, q="When does the ferry leave?", thread="r1", stop="retrieve") == ["judge"]
    answer = b(op="resume", ns=ns, thread="r1")
    assert answer["text"] == "from memory" and "7:40" in json.dumps(answer["evidence"])
    b.send(op="resume", ns=_ns("other"), thread="r1")
    refused = b.reply()
    assert not refused["ok"] and "no checkpointed run" in refused["detail"]


def test_a_thread_id_reused_across_workers_and_namespaces_leaks_nothing(workers: tuple[Worker, Worker]) -> None:
    a, b = workers
    alpha, beta = _ns("alpha"), _ns("beta")
    a(op="add", ns=alpha, docs=[{"text": "The vault code is 4711.", "source_id": "vault"}])
    b(op="add", ns=beta, docs=[{"text": "Lunch today: lentil soup and rye bread.", "source_id": "menu"}])
    first = a(op="ask", ns=alpha, q="What is the vault code?", thread="t1")
    assert "4711" in json.dumps(first["evidence"])
    second = b(op="ask", ns=beta, q="What is on the lunch menu?", thread="t1")
    assert second["evidence"] and "4711" not in json.dumps(second)
