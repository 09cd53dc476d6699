"""OpenTelemetry spans of a real answer-graph run, received by a real OTLP/HTTP server on loopback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from otlp_receiver import Receiver
from scripted_runs import ANSWER_NODES, PATH, visit_every_node

from agentrag.prompts import default_library

COMMON = ("agentrag.tenant", "agentrag.namespace", "agentrag.thread_id", "agentrag.run_id")


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    r = Receiver()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "agentrag-test")
    yield r
    r.stop()


def test_every_node_llm_call_and_memory_op_becomes_a_span(make_rag, receiver: Receiver) -> None:
    rag, answer = visit_every_node(make_rag)
    assert answer.text == "Paris"
    assert rag.observe.sink is not None and rag.observe.sink.flush()
    spans = receiver.spans
    assert receiver.requests >= 1 and {s["resource"]["service.name"] for s in spans} == {"agentrag-test"}

    (root,) = [s for s in spans if s["parent_id"] is None]
    assert root["name"] == "graph answer" and root["attrs"]["openinference.span.kind"] == "AGENT"
    assert root["attrs"]["input.value"] == "Where does Alice live now?" and root["attrs"]["output.value"] == "Paris"
    run_id = root["attrs"]["agentrag.run_id"]
    by_id = {s["span_id"]: s for s in spans}
    for s in spans:  # one trace, every span carrying the run's identity, every parent present
        assert s["trace_id"] == root["trace_id"]
        assert s["attrs"]["agentrag.run_id"] == run_id
        # the thread spans carry is the run's checkpoint thread, <namespace>/<thread id>#<run id>
        assert s["attrs"]["agentrag.thread_id"] == f"alice/trace-1#{run_id}" == s["attrs"]["session.id"]
        assert s["attrs"]["agentrag.namespace"] == "alice" and s["attrs"]["agentrag.tenant"] == "alice"
        assert s["parent_id"] is None or s["parent_id"] in by_id
        assert s["end"] >= s["start"] and s["status"] == 1  # STATUS_CODE_OK

    nodes = [s for s in spans if s["attrs"]["openinference.span.kind"] == "CHAIN" and s["name"].startswith("node ")]
    assert {s["attrs"]["agentrag.node"] for s in nodes} == ANSWER_NODES
    assert all(s["parent_id"] == root["span_id"] for s in nodes)
    steps = sorted(s["attrs"]["agentrag.step"] for s in nodes)
    assert steps == list(range(1, len(nodes) + 1))  # one span per node visit (retrieve and note twice)
    assert [s["attrs"]["agentrag.node"] for s in sorted(nodes, key=lambda s: s["attrs"]["agentrag.step"])] == PATH

    llm = [s for s in spans if s["attrs"]["openinference.span.kind"] == "LLM"]
    versions = {pid: default_library().spec(pid).version for pid in ("retriever/route", "judge/relevant", "judge/contradict",
                                                                   "judge/sufficient", "notes/update")}
    prompt_ids = [s["attrs"]["agentrag.prompt.id"] for s in llm]
    assert prompt_ids[0] == "retriever/route" and set(versions) <= set(prompt_ids)
    for s in llm:
        a, parent = s["attrs"], by_id[s["parent_id"]]
        assert parent["attrs"]["agentrag.node"] == a["agentrag.node"]  # under the node that made the call
        assert a["llm.model_name"] == "scripted" and a["llm.token_count.prompt"] > 0
        assert a["llm.token_count.total"] == a["llm.token_count.prompt"] + a["llm.token_count.completion"]
        assert a["agentrag.latency_ms"] >= 0 and a["llm.input_messages.0.message.role"] == "system"
        if a["agentrag.prompt.id"] in versions:
            assert a["agentrag.prompt.version"] == versions[a["agentrag.prompt.id"]]

    searches = [s for s in spans if s["name"] == "memory.search"]
    assert all(s["attrs"]["openinference.span.kind"] == "RETRIEVER" for s in searches)
    # the router checks its plan against memory; the Judge's attribution check searches the one speaker the
    # question names ("Alice"); every other search runs in a retrieve visit (two of them)
    assert {by_id[s["parent_id"]]["attrs"]["agentrag.node"] for s in searches} <= {"route", "retrieve", "judge"}
    retrieves = [s for s in searches if by_id[s["parent_id"]]["attrs"]["agentrag.node"] == "retrieve"]
    assert len({s["parent_id"] for s in retrieves}) == 2
    levels = [set(s["attrs"]["agentrag.memory.level"].split(",")) for s in retrieves]
    assert {"raw"} in levels and any("fact" in lv for lv in levels)  # the raw floor, then the derived levels
    for s in retrieves:
        a = s["attrs"]
        assert a["agentrag.memory.mode"] == "hybrid" and a["agentrag.memory.k"] == 5
        assert a["agentrag.memory.level"] and a["agentrag.memory.hits"] >= 2
        docs = {k.split(".")[2] for k in a if k.startswith("retrieval.documents.")}
        assert len(docs) == a["agentrag.memory.hits"] and "agentrag.latency_ms" in a
        assert a["retrieval.documents.0.document.id"][:2] in ("r-", "f-", "e-")
        assert isinstance(a["retrieval.documents.0.document.score"], float)
    (write,) = [s for s in spans if s["name"] == "memory.supersede"]
    assert by_id[write["parent_id"]]["attrs"]["agentrag.node"] == "refresh"
    assert write["attrs"]["agentrag.memory.old_id"] != write["attrs"]["agentrag.memory.new_id"]


def test_unsupported_protocol_is_a_clear_error(make_rag, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentrag.errors import ConfigError

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    rag = make_rag({})
    with pytest.raises(ConfigError, match="http/protobuf"):
        _ = rag.observe.sink


def test_tracing_off_imports_no_sdk_and_attaches_no_span_handler(tmp_path: Path) -> None:
    """Off by default: a run in a fresh process never imports agentrag's span code or the OTLP exporter."""
    code = textwrap.dedent(
        f"""
        import os, sys
        for k in list(os.environ):
            if k.startswith("OTEL_"):
                del os.environ[k]
        from agentrag.api import AgentRAG
        from agentrag.settings import load_settings
        from agentrag.testing import ScriptedChatModel
        from agentrag.tracing.scope import RunScope
        rag = AgentRAG(load_settings(data_dir={str(tmp_path)!r}),
                       llm=ScriptedChatModel(replies={{"retriever/route": '{{"kind": "none"}}',
                                                       "answerer/cited": '{{"answer": "4"}}'}}))
        a = rag.ask("What is 2 + 2?", namespace="ns")
        assert a.text == "4", a
        kinds = [type(h).__name__ for h in rag.observe.callbacks(RunScope(graph="answer", thread_id="t"))]
        loaded = [m for m in ("agentrag.tracing.handler", "agentrag.tracing.store",
                              "opentelemetry.exporter.otlp.proto.http", "openinference.semconv") if m in sys.modules]
        print(kinds, loaded)
        assert rag.observe.sink is None and kinds == ["RunRecorder"] and not loaded, (kinds, loaded)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")})
    assert out.returncode == 0, out.stderr[-2000:]
