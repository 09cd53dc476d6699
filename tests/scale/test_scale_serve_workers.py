"""``agentrag serve`` workers over a Chroma server and Postgres: one conversation whose turns alternate between two.

Each worker is a real ``python -m agentrag serve`` process with its own data dir, caches
and connections; all they share is the Chroma server and the Postgres ``state`` store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakeopenai import free_port

from agentrag.server.bench import stop_server, wait_ready
from agentrag.settings import HttpChroma

J = json.dumps
REPLIES = {
    "retriever/route": J({"kind": "single", "queries": [], "time": ""}),
    "notes/update": J({"note": "", "queries": [], "inferences": []}),
    "notes/review": J({"better": False}),
    "answerer/cited": J({"answer": "in the attic", "citations": [1]}),
    "constructor/facts": J({"facts": []}),
    "constructor/episode": J({"summary": "The user talked about a violin."}),
    "judge/consistency": J({"contradicts": [], "reason": ""}),
    "judge/duplicate": J({"duplicate": False}),
}
ENV = {**os.environ, "PYTHONPATH": str(Path.cwd()), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}


def _serve(config: Path, port: int, log: Path, workers: int = 1) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "agentrag", "--config", str(config), "serve", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--no-auth"]  # keys: tests/test_openai_serve.py
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=ENV)


def _config(root: Path, name: str, chroma: HttpChroma, dsn: str) -> Path:
    settings: dict[str, Any] = {
        "data_dir": str(root / name),
        "chroma": chroma.model_dump(mode="json"),
        "state": {"kind": "postgres", "dsn": dsn},
        "llm": {"kind": "scripted", "replies": REPLIES},
    }
    path = root / f"{name}.json"
    path.write_text(J(settings))
    return path


@pytest.fixture
def two_workers(tmp_path: Path, chroma_server: HttpChroma, pg_dsn: str) -> Iterator[tuple[str, str]]:
    procs, urls = [], []
    try:
        for name in ("a", "b"):
            port = free_port()
            procs.append(_serve(_config(tmp_path, name, chroma_server, pg_dsn), port, tmp_path / f"{name}.log"))
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc, name in zip(urls, procs, "ab", strict=True):
            try:
                wait_ready(url, proc)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}: {(tmp_path / f'{name}.log').read_text()[-3000:]}") from exc
        yield urls[0], urls[1]
    finally:
        for proc in procs:
            stop_server(proc)


def _chat(url: str, ns: str, text: str) -> dict[str, Any]:
    r = httpx.post(f"{url}/v1/{ns}/chat", json={"question": text, "session_id": "conv", "thread_id": "conv"},
                   timeout=120)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


@pytest.mark.chroma_server
def test_one_conversation_alternating_between_two_workers(two_workers: tuple[str, str]) -> None:
    a, b = two_workers
    ns = "ines"
    _chat(a, ns, "I keep my violin in the attic.")  # turn 1 on worker A
    second = _chat(b, ns, "Where do I keep my violin?")  # turn 2 on worker B sees turn 1's memory
    assert any("violin in the attic" in c["text"] for c in second["citations"]), second
    assert second["text"] == "in the attic"
    third = _chat(a, ns, "And where is the violin now?")  # back on A: B's turn is there too
    cited = " ".join(c["text"] for c in third["citations"])
    assert "violin" in cited, third
    for url in (a, b):  # the same memory and history from either worker
        items = httpx.get(f"{url}/v1/{ns}/items", params={"level": "raw"}, timeout=60).json()
        texts = {i["text"] for i in items}
        assert {"I keep my violin in the attic.", "Where do I keep my violin?"} <= texts
        first = next(i for i in items if i["text"] == "I keep my violin in the attic.")
        history = httpx.get(f"{url}/v1/{ns}/items/{first['id']}/history", timeout=60).json()
        assert history and history[0]["event"] == "add"


@pytest.mark.chroma_server
def test_serve_workers_two_processes_on_one_port(tmp_path: Path, chroma_server: HttpChroma, pg_dsn: str) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    proc = _serve(_config(tmp_path, "w", chroma_server, pg_dsn), port, log, workers=2)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        children = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(p) == proc.pid]
        workers = [c for c in children if b"spawn_main" in _cmdline(c)]
        assert len(workers) == 2, log.read_text()[-2000:]
        _chat(url, "zoe", "I keep my bicycle in the shed.")
        reply = _chat(url, "zoe", "Where do I keep my bicycle?")
        assert any("bicycle in the shed" in c["text"] for c in reply["citations"])
    finally:
        stop_server(proc)


def test_more_than_one_worker_needs_shared_state(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "agentrag", "--data-dir", str(tmp_path), "serve", "--workers", "2",
           "--backend", "scripted"]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**ENV, "COLUMNS": "200"}, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "chroma.kind: http" in out.stderr and "state.kind: postgres" in out.stderr


def _ppid(proc_dir: Path) -> int:
    try:
        return int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _cmdline(proc_dir: Path) -> bytes:
    try:
        return (proc_dir / "cmdline").read_bytes()
    except OSError:
        return b""
