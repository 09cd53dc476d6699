"""Remembering off the request path, seen through the ``openai`` client against a real ``agentrag serve``.

The server (a subprocess on loopback, embedded Chroma and the SQLite state store,
scripted generator) derives facts in its own worker thread from the durable queue.
The fact extraction is held at a gate file (``llm.hold``), so: the reply comes back
while derivation has not finished; the next turn already finds the raw turn; the
server is SIGKILLed while its worker holds the job; a restarted server (gate open)
takes the job up again once the lease expires and the fact appears, once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import yaml
from chromaserver import _free_port, stop
from test_openai_serve import keys

WAIT = 240.0
SCRIPT = {
    "answerer/cited": json.dumps({"answer": "Porto", "citations": [1]}),
    "notes/update": json.dumps({"note": "", "queries": [], "inferences": []}),
    "notes/review": json.dumps({"better": False}),
    "judge/sufficient": "no",
    "judge/relevant": "yes",
    "judge/contradict": "no",
    "judge/duplicate": json.dumps({"duplicate": False}),
    "judge/consistency": json.dumps({"contradicts": [], "reason": ""}),
    "constructor/facts": json.dumps({"facts": [{"text": "Ana lives in Porto.", "from": [1]}]}),
    "constructor/episode": json.dumps({"title": "chat", "summary": "The user talked about Ana."}),
}


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting until {what}")


def serve(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTRAG_") or k == "AGENTRAG_CACHE_DIR"}
    env.update(HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentrag", "--config", str(config), "serve", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )

    def up() -> bool:
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(up, "the server answers")
    return proc


def test_reply_first_next_turn_sees_it_and_a_killed_server_finishes_the_job(tmp_path: Path) -> None:
    gate, data = tmp_path / "gate", tmp_path / "data"
    settings: dict[str, Any] = {
        "data_dir": str(data),
        "llm": {"kind": "scripted", "replies": SCRIPT, "hold": {"constructor/facts": str(gate)}},
        "queue": {"mode": "background", "workers": 1, "lease_s": 3.0, "poll_s": 0.1},
    }
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    code, out, err = keys(data, "create", "--tenant", "acme")
    assert code == 0, err
    key = out.splitlines()[-1]
    port, log = _free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=120)

    def get(path: str, **params: str) -> Any:
        r = httpx.get(f"{base}{path}", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()

    def facts() -> list[str]:
        return [i["text"] for i in get("/v1/ines/items", level="fact", include_invalid="true")]

    proc = serve(config, port, log)
    try:
        first = client.chat.completions.create(
            model="agentrag", user="ines", metadata={"session_id": "c1"},
            messages=[{"role": "user", "content": "My sister Ana lives in Porto."}],
        )
        assert first.choices[0].message.content  # the reply came back ...
        wait_until(lambda: get("/v1/queue")["counts"]["running"] == 1, "the server's worker holds the job")
        assert facts() == []  # ... while the fact is still being derived (held at the gate)
        second = client.chat.completions.create(
            model="agentrag", user="ines", metadata={"session_id": "c1"},
            messages=[{"role": "user", "content": "Where does my sister live?"}],
        )
        cited = [c["text"] for c in (second.model_extra or {})["agentrag"]["citations"]]
        assert "My sister Ana lives in Porto." in cited  # the next turn already sees the raw turn
        os.kill(proc.pid, signal.SIGKILL)  # killed mid-job, lease held
        proc.wait(timeout=30)
        after = facts_after_restart(config, port, log, gate, get)
        assert after.count("Ana lives in Porto.") == 1, after  # derived after the restart, exactly once
    finally:
        stop(proc)


def facts_after_restart(config: Path, port: int, log: Path, gate: Path, get: Callable[..., Any]) -> list[str]:
    """Open the gate, start the server again, wait until the queue holds nothing undone; the stored facts."""
    gate.touch()
    proc = serve(config, port, log)
    try:
        def done() -> bool:
            counts = get("/v1/queue")["counts"]
            return counts["done"] >= 2 and counts["pending"] == counts["running"] == counts["failed"] == 0

        wait_until(done, "the restarted server finished every job")
        return [i["text"] for i in get("/v1/ines/items", level="fact", include_invalid="true")]
    finally:
        stop(proc)
