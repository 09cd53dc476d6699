"""The memory CLI, driven through typer's runner on real Chroma and the real embedder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from memhelpers import FIXTURES
from typer.testing import CliRunner

from agentrag.cli_memory import bench_app, memory_app


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    main = sys.modules.get("agentrag.cli")
    if main is not None:  # another test may have left the main command's --data-dir behind
        monkeypatch.setattr(main.OPTS, "data_dir", None)
        monkeypatch.setattr(main.OPTS, "config", None)
    monkeypatch.delenv("AGENTRAG_CONFIG", raising=False)
    runner = CliRunner()

    def invoke(*args: str, app=memory_app, code: int = 0) -> str:  # type: ignore[no-untyped-def]
        res = runner.invoke(app, list(args), env={"AGENTRAG_DATA_DIR": str(tmp_path / "data")})
        assert res.exit_code == code, res.output
        # results go to stdout; errors, logs and progress to stderr
        return res.stdout if code == 0 else res.output

    return invoke


def test_add_search_list_history_explain_forget_stats(run) -> None:  # type: ignore[no-untyped-def]
    added = json.loads(run("add", "-n", "u1", "I adopted a tabby cat named Milo.", "--speaker", "ann", "--json"))
    (item_id,) = added["added"]
    assert json.loads(run("add", "-n", "u1", "I adopted a tabby cat named Milo.", "--speaker", "ann", "--json"))[
        "unchanged"
    ] == [item_id]
    assert "added 58" in run("add", "-n", "u1", "--locomo", str(FIXTURES / "locomo_conv26_excerpt.json"))
    hits = json.loads(run("search", "-n", "u1", "tabby cat Milo", "-k", "3", "--json"))
    assert hits[0]["item"]["id"] == item_id and hits[0]["rank"] == 1
    sparse = json.loads(run("search", "-n", "u1", "LGBTQ support group", "--mode", "sparse", "--json"))
    assert sparse and all(h["dense_score"] is None for h in sparse)
    only = json.loads(run("search", "-n", "u1", "support group", "--speaker", "Melanie", "--json"))
    assert only and {h["item"]["speaker"] for h in only} == {"Melanie"}
    assert "Milo" in run("search", "-n", "u1", "tabby cat")  # the table view
    listed = json.loads(run("list", "-n", "u1", "--limit", "5", "--json"))
    assert listed[0]["id"] == item_id and len(listed) == 5
    history = json.loads(run("history", "-n", "u1", item_id, "--json"))
    assert [e["event"] for e in history] == ["add"] and history[0]["actor"] == "cli"
    why = json.loads(run("explain", "-n", "u1", item_id, "--json"))
    assert why["item"]["text"] == "I adopted a tabby cat named Milo."
    assert "forgot 1 of 1" in run("forget", "-n", "u1", item_id, "--reason", "test", "--yes")
    assert [e["event"] for e in json.loads(run("history", "-n", "u1", item_id, "--json"))] == ["add", "forget"]
    stats = json.loads(run("stats", "-n", "u1", "--json"))
    assert stats["levels"]["raw"] == {"valid": 58, "total": 58} and stats["history_entries"] == 60
    assert "raw" in run("stats", "-n", "u1") and "nothing found" in run("search", "-n", "u2", "cat")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "-n", "../etc", "cat"], "looks like a path"),
        (["search", "-n", "u1", "cat", "--mode", "fuzzy"], "unknown mode"),
        (["search", "-n", "u1", "cat", "--level", "chapter"], "unknown level"),
        (["search", "-n", "u1", "cat", "--as-of", "last tuesday"], "ISO date"),
        (["add", "-n", "u1", ""], "empty"),
        (["add", "-n", "u1"], "exactly one of"),
        (["add", "-n", "u1", "--file", "/nonexistent.md"], "no such file"),
        
        (["list", "-n", '{"$ne": 1}'], "filter expression"),
    ],
)
def test_user_errors_are_one_line_without_traceback(run, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    out = run(*args, code=2)
    assert message in out and "Traceback" not in out


def test_forget_asks_before_deleting(run) -> None:  # type: ignore[no-untyped-def]
    (item_id,) = json.loads(run("add", "-n", "u1", "keep me", "--json"))["added"]
    run("forget", "-n", "u1", item_id, code=1)  # no confirmation on stdin: nothing deleted
    assert json.loads(run("list", "-n", "u1", "--json"))[0]["id"] == item_id


def test_bench_memory_small_run_reports_json(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = run(
        "memory",
        "--items",
        "300",
        "--queries",
        "10",
        "--embed-sample",
        "40",
        "--repeats",
        "2",
        "--json",
        "--record",
        str(tmp_path / "bench" / "memory"),
        app=bench_app,
    )
    result = json.loads(out[out.index("{") :])
    assert result["items"] == 300 and result["corpus"] == "templated synthetic sentences"
    assert set(result["search"]) == {"dense", "sparse", "hybrid"} and result["search"]["hybrid"]["pooled"]["n"] == 20
    assert result["repeats"] == 2 and len(result["search"]["hybrid"]["repeats"]) == 2
    assert result["ingest_precomputed_items_s"] > 0 and set(result["targets"]) == {
        "hybrid_p95_ms",
        "ingest_precomputed_items_s",
        "ingest_with_embedding_ratio",
    }
    table = (tmp_path / "bench" / "memory.md").read_text()
    assert "300 items" in table and "hybrid search" in table
    assert "300" in json.loads((tmp_path / "bench" / "memory.json").read_text())
