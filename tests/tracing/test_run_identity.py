"""Run ids (config, checkpoints, runctx) and the run record that run pages read."""

from __future__ import annotations

import json

import pytest
from scripted_runs import NEUTRAL, PATH, PROBABILITIES, every_node_script, facts

from agentrag.errors import ConfigError
from agentrag.pages.pages import list_runs, run_view
from agentrag.runctx import current_run_id
from agentrag.settings import load_settings
from agentrag.tracing.observe import runlog_path
from agentrag.tracing.runlog import RunLog
from agentrag.tracing.setup import tracing_enabled


def test_run_id_reaches_the_memory_layer_checkpoints_and_run_record(make_rag) -> None:
    seen: list[str | None] = []
    script = every_node_script()
    route = script["retriever/route"]

    def spy(messages):  # runs inside the route node, as the memory layer does
        seen.append(current_run_id.get())
        return route

    rag = make_rag({**script, "retriever/route": spy}, PROBABILITIES, max_rounds=2, decisions=NEUTRAL,
                   evidence={"derived_levels": True}, notes={"enabled": True})
    assert rag.settings.router.kind == "llm"  # a scripted plan means the LLM router (which the spy stands in for)
    rag.memory.add("alice", facts("alice"))
    second = rag.ask("Where does Alice live now?", namespace="alice", thread_id="t-ids-2")
    assert current_run_id.get() is None  # reset after the run
    (run_id,) = seen
    checkpoint_thread = f"alice/t-ids-2#{run_id}"  # each run of a thread has its own checkpoint thread
    log = RunLog(runlog_path(rag.settings))
    (record,) = log.for_thread(checkpoint_thread)
    log.close()
    assert record.run_id == run_id and record.namespace == "alice" and record.graph == "answer"
    snapshot = rag._graph("answer").get_state({"configurable": {"thread_id": checkpoint_thread}})
    assert snapshot.metadata["agentrag_run_id"] == run_id and snapshot.metadata["namespace"] == "alice"
    assert [v.node for v in record.nodes] == PATH
    # the Judge checks the added passages (at most 4), two candidate contradictions (the facts, the turns)
    # and sufficiency once; the notes loop then writes two notes (the second one reviewed); the answer
    # node reads the top 3 passages first, then answers from all the evidence
    assert [c.prompt_id for c in record.calls] == [
        "retriever/route", *["judge/relevant"] * 4, *["judge/contradict"] * 2, "judge/sufficient",
        "notes/update", "notes/update", "notes/review", "answerer/cited", "answerer/cited"]
    assert sum(c.prompt_tokens + c.completion_tokens for c in record.calls) == second.usage.total_tokens
    usage = record.usage_by_node()
    assert {n: u.total_tokens for n, u in usage.items()} == {n: u.total_tokens for n, u in second.usage_by_node.items()}
    (row,) = list_runs(rag.settings, "alice")
    assert row.thread_id == "t-ids-2" and row.tokens == second.usage.total_tokens and row.visits == len(PATH)


def test_chat_runs_attribute_subgraph_llm_calls_to_the_outer_node(make_rag) -> None:
    script = {
        "retriever/route": json.dumps({"kind": "single", "queries": [], "time": ""}),
        "judge/verdict": json.dumps({"relevant": [1], "sufficient": True, "missing": [], "conflicts": []}),
        "answerer/cited": json.dumps({"answer": "Copenhagen", "citations": [1]}),
        "constructor/facts": json.dumps({"facts": []}),
        "constructor/episode": json.dumps({"summary": "a chat about bands"}),
    }
    rag = make_rag(script)
    rag.add([{"text": "Mercyful Fate is a band from Copenhagen.", "source_id": "d1"}], namespace="ns", derive=False)
    a = rag.chat("Where is Mercyful Fate from?", namespace="ns", thread_id="chat-1")
    (row,) = [r for r in list_runs(rag.settings, "ns") if r.thread_id == "chat-1"]
    assert row.graph == "chat" and row.visits == 3 and row.tokens == a.usage.total_tokens > 0
    per_node = run_view(rag.settings, "chat-1", "ns", rag.memory).per_node()
    assert list(per_node) == ["answer", "remember_turn", "ingest"]
    # the calls ran inside the answer and ingest subgraphs; the page puts them on those outer nodes
    assert sum(tok.total_tokens for _, _, tok in per_node.values()) == a.usage.total_tokens
    assert per_node["ingest"][2].total_tokens == a.usage_by_node["extract_facts"].total_tokens


def test_tracing_settings_section_and_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(k, raising=False)
    assert not tracing_enabled(load_settings().tracing)  # off by default
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert tracing_enabled(load_settings().tracing)
    monkeypatch.setenv("AGENTRAG_TRACING__ENABLED", "false")
    assert not tracing_enabled(load_settings().tracing)  # the setting wins over the variables
    monkeypatch.setenv("AGENTRAG_TRACING__ENABLED", "true")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not tracing_enabled(load_settings().tracing)  # the standard kill switch wins over everything
    with pytest.raises(ConfigError, match="tracing"):
        load_settings(tracing={"endpoint": "http://x", "exporter": "jaeger"})
