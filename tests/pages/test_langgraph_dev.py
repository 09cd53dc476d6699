"""LangGraph's own tooling: ``langgraph dev`` loads graphs/langgraph.json; its REST API lists each graph's structure.

Needs ``langgraph-cli[inmem]`` (extra ``studio``; ``make test`` sets it up with scripts/setup_langgraph_dev.sh in
its own venv, since it pins protobuf below 7); skipped, saying so, where it is not installed.
The server runs on loopback with no browser, no tunnel and no analytics, and is stopped by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prereq import missing

ROOT = Path(__file__).resolve().parents[2]
GRAPHS = {"answer": {"route", "retrieve", "judge", "refresh", "revise", "note", "answer"},
          "ingest": {"select_new", "extract_facts", "summarise", "dedupe", "check_consistency", "refresh", "write"},
          "chat": {"answer", "remember_turn", "ingest"}}
FIRST = {"answer": "route", "ingest": "select_new", "chat": "answer"}


def langgraph_cli() -> str | None:
    """The CLI: from the env var, scripts/setup_langgraph_dev.sh's venv in the cache, or beside this Python."""
    cache = Path(os.environ.get("AGENTRAG_CACHE_DIR") or Path.home() / ".cache" / "agentrag")
    for candidate in (os.environ.get("AGENTRAG_LANGGRAPH_CLI"), cache / "langgraph-dev" / "bin" / "langgraph",
                      Path(sys.executable).parent / "langgraph"):
        if candidate and Path(candidate).exists():
            return str(candidate)
    return shutil.which("langgraph")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dev_server(tmp_path: Path):
    cli = langgraph_cli()
    if cli is None:
        missing("langgraph-cli[inmem] is not installed: scripts/setup_langgraph_dev.sh or pip install 'agentrag[studio]'")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false", "LANGCHAIN_TRACING_V2": "false",
           "AGENTRAG_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    log = (tmp_path / "langgraph-dev.log").open("w")
    # graph paths in langgraph.json are relative to the working directory, where the server also keeps
    # its in-memory state: run it in a copy so the checkout stays clean
    work = shutil.copytree(ROOT / "graphs", tmp_path / "graphs", ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.Popen(
        [cli, "dev", "--config", "langgraph.json", "--host", "127.0.0.1", "--port", str(port),
         "--no-browser", "--no-reload"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"langgraph dev exited: {(tmp_path / 'langgraph-dev.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        else:
            pytest.fail(f"langgraph dev did not start: {(tmp_path / 'langgraph-dev.log').read_text()[-3000:]}")
        yield base
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server's process group (the CLI starts the API server as a child)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


def test_langgraph_dev_serves_every_graph_with_its_structure(dev_server: str) -> None:
    assistants = httpx.post(f"{dev_server}/assistants/search", json={"limit": 50}, timeout=30).json()
    by_graph = {a["graph_id"]: a for a in assistants}
    assert set(by_graph) == set(GRAPHS)
    for name, nodes in GRAPHS.items():
        graph = httpx.get(f"{dev_server}/assistants/{by_graph[name]['assistant_id']}/graph", timeout=60).json()
        ids = {n["id"] for n in graph["nodes"]}
        assert ids == nodes | {"__start__", "__end__"}, (name, ids)
        edges = {(e["source"], e["target"]) for e in graph["edges"]}
        assert ("__start__", FIRST[name]) in edges
    answer_edges = {(e["source"], e["target"]) for e in httpx.get(
        f"{dev_server}/assistants/{by_graph['answer']['assistant_id']}/graph", timeout=60).json()["edges"]}
    assert {("judge", "revise"), ("note", "retrieve"), ("refresh", "revise")} <= answer_edges
