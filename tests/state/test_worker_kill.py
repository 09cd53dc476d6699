"""A real ``agentrag worker`` process SIGKILLed while it holds a job; a second one finishes the job.

Postgres state store and a Chroma server, both real on loopback, shared by the
test process (which plays the server: it answers the chat turn and enqueues the
job) and the two worker processes. The first worker's fact extraction is held at
a gate file (``llm.hold``), so it is killed mid-job, lease held, for certain.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from agentrag.api import AgentRAG
from agentrag.settings import HttpChroma, load_settings
from agentrag.testing import ScriptedChatModel

WAIT = 240.0


def j(obj: object) -> str:
    return json.dumps(obj)


DERIVE = {
    "constructor/facts": j({"facts": [{"text": "Ana lives in Porto.", "from": [1]}]}),
    "constructor/episode": j({"summary": "a chat"}),
    "judge/consistency": j({"contradicts": [], "reason": ""}),
    "judge/duplicate": j({"duplicate": False}),
}
ANSWER = {
    "judge/verdict": j({"relevant": [1], "sufficient": True, "missing": [], "conflicts": []}),
    "judge/relevant": "yes",
    "judge/contradict": "no",
    "judge/sufficient": "yes",
    "answerer/cited": j({"answer": "noted", "citations": [1]}),
    "notes/update": j({"note": "", "queries": [], "inferences": []}),
    "notes/review": j({"better": False}),
}


def _worker(config: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTRAG_") or k == "AGENTRAG_CACHE_DIR"}
    env.update(PYTHONPATH=str(Path.cwd()), HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "agentrag", "--verbose", "--config", str(config), "worker", *args],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )


def _config(path: Path, settings: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def test_derivation_completes_after_the_worker_is_killed_mid_job(
    tmp_path: Path, chroma_server: HttpChroma, pg_dsn: str, embedder: Any
) -> None:
    gate = tmp_path / "gate"
    shared = {
        "chroma": chroma_server.model_dump(mode="json"),
        "state": {"kind": "postgres", "dsn": pg_dsn},
        "queue": {"lease_s": 3.0, "poll_s": 0.1},
    }
    held = {"kind": "scripted", "replies": DERIVE, "hold": {"constructor/facts": str(gate)}}
    first = _config(tmp_path / "w1.yaml", {**shared, "data_dir": str(tmp_path / "w1"), "llm": held})
    second = _config(
        tmp_path / "w2.yaml", {**shared, "data_dir": str(tmp_path / "w2"), "llm": {"kind": "scripted", "replies": DERIVE}}
    )
    settings = load_settings(data_dir=tmp_path / "server", **shared)
    with AgentRAG(settings, llm=ScriptedChatModel(replies=ANSWER), embedder=embedder) as rag:
        ns = f"u-{time.time_ns()}"
        rag.chat("My sister Ana lives in Porto.", namespace=ns, session_id="s1", derive="background")
        (job,) = rag.queue.jobs(namespace=ns)
        (raw,) = rag.memory.list(ns, "raw")
        assert job.item_ids == (raw.id,) and job.status == "pending"

        proc = _worker(first, tmp_path / "w1.log")
        deadline = time.monotonic() + WAIT
        while not gate.with_name("gate.reached").exists():  # the worker is inside the fact extraction
            assert proc.poll() is None, (tmp_path / "w1.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "worker 1 never reached the extraction"
            time.sleep(0.1)
        leased = rag.queue.get(job.id)
        assert leased is not None and (leased.status, leased.attempts) == ("running", 1)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        assert rag.queue.get(job.id).status == "running"  # type: ignore[union-attr]  # the dead worker's lease
        assert rag.memory.list(ns, "fact") == []

        again = _worker(second, tmp_path / "w2.log", "--drain")
        assert again.wait(timeout=WAIT) == 0, (tmp_path / "w2.log").read_text()[-3000:]
        done = rag.queue.get(job.id)
        assert done is not None and (done.status, done.attempts, done.last_error) == ("done", 2, None)
        facts = rag.memory.list(ns, "fact")
        assert len(facts) == 1, (facts, (tmp_path / "w2.log").read_text()[-6000:])  # (once 0 in a full run: its log)
        (fact,) = facts
        assert fact.text == "Ana lives in Porto." and fact.parents == (raw.id,)
        assert [e.event for e in rag.memory.history(ns, fact.id)] == ["add"]
        assert rag.queue.stats().counts["pending"] == 0
