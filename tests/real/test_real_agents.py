"""The agents with the real local model (SmolLM2-135M on llama.cpp) and real Chroma.

Part of the default run: one LoCoMo session (committed excerpt, CC BY-NC 4.0, see
tests/fixtures/memory/ATTRIBUTION.md) goes through the ingest graph into all
three levels; questions are answered with citations; streaming delivers tokens
one by one; and an interrupted run resumes from its checkpoint. Assertions are
about the system's behaviour, not about a 135M model's accuracy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrag.api import AgentRAG
from agentrag.memory import loaders
from agentrag.settings import load_settings

pytestmark = pytest.mark.real_model

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "memory" / "locomo_conv26_excerpt.json"
NS = "conv26"


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, embedder):
    settings = load_settings(data_dir=tmp_path_factory.mktemp("real"), max_rounds=2)
    rag = AgentRAG(settings, embedder=embedder)
    items = [i for i in loaders.locomo_items(FIXTURE, NS) if i.session_id == "conv-26:session_1"]
    report = rag.add_items(items, namespace=NS)
    yield rag, report
    rag.close()


@pytest.fixture
def rag(ingested):
    return ingested[0]


def test_ingest_fills_all_three_levels(ingested):
    rag, report = ingested
    counts = {lvl: rag.memory.count(NS, lvl) for lvl in ("raw", "fact", "episode")}
    assert counts["raw"] == 18
    assert counts["fact"] >= 1 and counts["episode"] == 1
    assert report.usage.calls >= 3 and report.usage.completion_tokens > 0
    fact = rag.memory.list(NS, "fact")[0]
    assert fact.parents and all(p.startswith("r-") for p in fact.parents)  # each fact cites raw turns
    episode = rag.memory.list(NS, "episode")[0]
    chain = rag.explain(episode.id, namespace=NS)
    assert any(i.level == "raw" for i in chain.derived_from)  # provenance reaches the raw text


def test_reingest_is_idempotent_with_the_real_model(rag):
    before = {lvl: rag.memory.count(NS, lvl) for lvl in ("raw", "fact", "episode")}
    items = [i for i in loaders.locomo_items(FIXTURE, NS) if i.session_id == "conv-26:session_1"]
    again = rag.add_items(items, namespace=NS)
    assert again.usage.calls == 0 and again.written == 0
    assert {lvl: rag.memory.count(NS, lvl) for lvl in ("raw", "fact", "episode")} == before


def test_answers_are_grounded_in_retrieved_memory(rag):
    a = rag.ask("When did Caroline go to the LGBTQ support group?", namespace=NS)
    assert a.text
    assert a.usage.calls >= 2 and a.usage.prompt_tokens > 0
    assert a.route.kind == "none" or a.evidence, "memory holds this; retrieval must find evidence"
    support = " ".join(e.text for e in a.evidence)
    assert a.route.kind == "none" or "support group" in support
    # whatever a 135M model does with citations, each one points at a real memory item in this namespace
    for c in a.citations:
        assert rag.memory.get(NS, [c.item_id]), c


def test_streaming_delivers_tokens_one_by_one(rag):
    events = list(rag.stream("What did Caroline say about the support group?", namespace=NS))
    tokens = [e for e in events if e.kind == "token"]
    final = events[-1].data
    if not final.abstained or tokens:
        assert len(tokens) >= 2
        assert "".join(e.text for e in tokens) == final.text
    assert [e.kind for e in events].index("answer") == len(events) - 1


def test_interrupted_run_resumes_from_checkpoint(rag):
    graph = rag._graph("answer")
    cfg = rag.runner.config(rag.runner.scope(NS, "real-interrupt"), "answer")
    seen = []
    for update in graph.stream(
        {"question": "What is Caroline's identity?", "namespace": NS}, cfg, context=rag.deps, stream_mode="updates"
    ):
        seen.extend(update)
        if "retrieve" in update:
            break  # the process "dies" after retrieval
    snap = graph.get_state(cfg)
    assert seen[-1] == "retrieve" and snap.next == ("judge",)
    a = rag.resume("real-interrupt", namespace=NS)
    assert a.text and a.thread_id == "real-interrupt"
    assert graph.get_state(cfg).next == ()
