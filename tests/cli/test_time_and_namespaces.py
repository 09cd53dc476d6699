"""``--as-of-event`` / ``--as-of-ingested`` (two named clocks), ``memory namespaces``, and the empty-namespace hint."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from clihelpers import Run


def _texts(res_out: str) -> list[str]:
    return [h["item"]["text"] for h in json.loads(res_out)]


def test_as_of_event_time_and_as_of_ingestion_time(run: Run, embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agentrag.memory import open_store
    from agentrag.settings import load_settings
    from agentrag.types import MemoryItem

    store = open_store(load_settings(data_dir=tmp_path / "data"), embedder)
    jan = MemoryItem.new(
        namespace="u", level="fact", text="Alice lives in Boston.", source_id="f1",
        event_time=datetime(2023, 1, 5, tzinfo=UTC),
    )
    jun = MemoryItem.new(
        namespace="u", level="fact", text="Alice lives in Paris.", source_id="f2",
        event_time=datetime(2023, 6, 5, tzinfo=UTC),
    )
    store.add("u", [jan], actor="test")
    store.supersede("u", jan.id, jun, reason="she moved", actor="test")
    store.close()
    before_ingest = "2000-01-01"
    q = ["memory", "search", "-n", "u", "Where does Alice live?", "--json"]
    assert _texts(run(*q).out) == ["Alice lives in Paris."]
    assert _texts(run(*q, "--as-of-event", "2023-03-01").out) == ["Alice lives in Boston."]
    assert _texts(run(*q, "--as-of", "2023-03-01").out) == ["Alice lives in Boston."]  # --as-of is the event clock
    assert _texts(run(*q, "--as-of-event", "2023-07-01").out) == ["Alice lives in Paris."]
    assert _texts(run(*q, "--as-of-event", "2022-12-01").out) == []
    assert _texts(run(*q, "--as-of-ingested", before_ingest).out) == []  # nothing was stored yet
    now = datetime.now(UTC).isoformat()
    assert _texts(run(*q, "--as-of-ingested", now).out) == ["Alice lives in Paris."]
    res = run(*q, "--as-of-event", "2023-03-01", "--as-of-ingested", now, code=2)
    assert "give one clock" in res.err


def test_namespaces_lists_counts_and_unknown_namespace_warns(run: Run) -> None:
    assert "no namespaces yet" in run("memory", "namespaces").out
    run("memory", "add", "-n", "alice", "I adopted a tabby cat named Milo.")
    run("memory", "add", "-n", "alice", "Milo likes tuna.")
    run("memory", "add", "-n", "bob", "Bob plays chess.")
    assert json.loads(run("memory", "namespaces", "--json").out) == {"alice": 2, "bob": 1}
    table = run("memory", "namespaces").flat
    assert "alice" in table and "bob" in table
    res = run("memory", "search", "-n", "alcie", "cat", "--json")
    assert json.loads(res.out) == []
    assert "namespace 'alcie' does not exist; did you mean 'alice'?" in res.flat
    assert "alice (2)" in res.flat
    assert "warning" in run("memory", "list", "-n", "alcie").err
    assert "warning" not in run("memory", "list", "-n", "alice").err
