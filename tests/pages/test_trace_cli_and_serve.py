"""``agentrag trace`` and the pages served by ``agentrag serve``, on a real scripted run over real Chroma."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "tracing"))
from scripted_runs import visit_every_node

from agentrag.cli_trace import trace_app
from agentrag.server.app import create_app


def test_served_pages_are_linked_and_scoped_by_namespace(make_rag) -> None:
    rag, _ = visit_every_node(make_rag, ns="alice", thread_id="trace-7")
    with TestClient(create_app(rag=rag, auth=False)) as client:
        listing = client.get("/runs", params={"namespace": "alice"})
        assert listing.status_code == 200 and 'href="/runs/trace-7?namespace=alice"' in listing.text
        page = client.get("/runs/trace-7", params={"namespace": "alice"})
        assert page.status_code == 200 and 'class="graph run-graph"' in page.text
        assert 'href="/memory/alice#item-' in page.text  # evidence links to the memory page
        other = client.get("/runs/trace-7", params={"namespace": "bob"})
        assert other.status_code == 404 and "no checkpointed run" in other.json()["detail"]
        assert client.get("/runs", params={"namespace": "bob"}).text.count("/runs/trace-7") == 0
        memory = client.get("/memory/alice")
        assert memory.status_code == 200 and 'class="graph prov-graph"' in memory.text
        assert client.get("/memory/bad*ns").status_code == 422
        assert client.get("/runs/nope", params={"namespace": "alice"}).status_code == 404


def test_trace_list_export_and_memory_commands(make_rag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rag, answer = visit_every_node(make_rag, ns="alice", thread_id="trace-8")
    data_dir = rag.settings.data_dir
    rag.close()
    main = sys.modules.get("agentrag.cli")
    if main is not None:  # another test may have left the main command's --data-dir behind
        monkeypatch.setattr(main.OPTS, "data_dir", None)
        monkeypatch.setattr(main.OPTS, "config", None)
    runner = CliRunner()
    env = {"AGENTRAG_DATA_DIR": str(data_dir)}

    res = runner.invoke(trace_app, ["list", "-n", "alice", "--json"], env=env)
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    assert row["thread_id"] == "trace-8" and row["question"] == answer.question and row["visits"] == 9
    assert row["tokens"] == answer.usage.total_tokens and row["status"] == "ok"

    out = tmp_path / "run.html"
    res = runner.invoke(trace_app, ["export", "trace-8", "-n", "alice", "--out", str(out)], env=env)
    assert res.exit_code == 0, res.output
    assert 'class="graph run-graph"' in out.read_text() and "Where does Alice live now?" in out.read_text()
    res = runner.invoke(trace_app, ["export", "trace-8", "-n", "bob", "--out", str(tmp_path / "x.html")], env=env)
    assert res.exit_code == 3 and not (tmp_path / "x.html").exists()  # not found, as another tenant's id is

    mem = tmp_path / "mem.html"
    res = runner.invoke(trace_app, ["memory", "-n", "alice", "--out", str(mem)], env=env)
    assert res.exit_code == 0, res.output
    assert "Alice moved to Paris in June." in mem.read_text()
