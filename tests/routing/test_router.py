"""The router over real Chroma and the real embedder: shipped weights, the rules that always hold, the LLM setting.

The memory texts are written for these tests (no dataset text); the shipped
weights are the ones in ``agentrag/routing/data`` and load with the network off
(``HF_HUB_OFFLINE=1``, set in ``tests/conftest.py``).
"""

from __future__ import annotations

import json
import os

import numpy as np

from agentrag.agents.router import decide, holds_related
from agentrag.routing.features import FEATURE_NAMES, entity_spans, probe_memory
from agentrag.routing.model import CLASSES, RouterModel, load_model

MAGAZINES = [
    {"text": "Harbor Lights Quarterly was a literary magazine founded in Boston in 1851.", "source_id": "m1"},
    {"text": "The Meadow Review is a gardening magazine first published in Leeds in 1923.", "source_id": "m2"},
    {"text": "Copper Kettle is a cooking show filmed in Dublin.", "source_id": "m3"},
    {"text": "The river Aune flows through a valley of pine forests.", "source_id": "m4"},
]
CHAT = [
    {"text": "Maribel: I finally started my new job as a nurse at the city hospital!", "source_id": "c1",
     "speaker": "Maribel", "session_id": "s1"},
    {"text": "Tobias: That's great news, congratulations!", "source_id": "c2", "speaker": "Tobias", "session_id": "s1"},
    {"text": "Maribel: Thanks! I also adopted a grey cat called Pepper last week.", "source_id": "c3",
     "speaker": "Maribel", "session_id": "s1"},
]
COMPARISON = "Which magazine was started first, Harbor Lights Quarterly or The Meadow Review?"


def biased_weights(tmp_path, bias: list[float]) -> str:
    """A weights file whose decision is its bias alone (zero weights): the rules are then what is tested."""
    n = len(FEATURE_NAMES)
    model = RouterModel(
        weights=np.zeros((len(CLASSES), n)), bias=np.asarray(bias, dtype=float), mean=np.zeros(n), scale=np.ones(n)
    )
    return str(model.save(tmp_path / "biased.json"))


def test_shipped_weights_load_offline_and_route_a_comparison_to_iterative(make_rag):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    model = load_model()
    assert model.features == FEATURE_NAMES and model.meta.get("trained_on")
    rag = make_rag({})
    rag.add(MAGAZINES, namespace="mags", derive=False)
    r = decide(rag.deps, COMPARISON, "mags")
    assert entity_spans(COMPARISON) == ["Harbor Lights Quarterly", "Meadow Review"]
    assert r.kind == "iterative" and r.source == "learned" and not r.escalated, r.reason
    assert r.probabilities is not None and abs(sum(r.probabilities.values()) - 1.0) < 1e-3
    assert r.queries[0] == COMPARISON and "Harbor Lights Quarterly" in r.queries
    assert not rag.llm.calls_for("retriever/route")  # the learned router costs no generator call


def test_simple_question_with_a_hit_goes_to_one_search(make_rag):
    rag = make_rag({})
    rag.add(CHAT, namespace="chat", derive=False)
    r = decide(rag.deps, "What is Maribel's job?", "chat")
    assert r.kind == "single", r.reason
    assert not r.escalated and r.probabilities is not None and r.probabilities["single"] >= 0.5


def test_no_retrieval_is_overruled_when_memory_holds_related_items(make_rag, tmp_path):
    weights = biased_weights(tmp_path, [4.0, 0.0, 0.0])  # the model always says "none" (p = 0.96)
    rag = make_rag({}, router={"weights": weights})
    rag.add(MAGAZINES, namespace="mags", derive=False)
    r = decide(rag.deps, "When was Harbor Lights Quarterly founded?", "mags")
    assert r.kind == "iterative" and r.escalated and "overruled" in r.reason
    assert r.probabilities is not None and r.probabilities["none"] > 0.9
    # an empty memory holds nothing related: the model's "none" stands (so the rule above is what acted)
    r_empty = decide(rag.deps, "When was Harbor Lights Quarterly founded?", "empty")
    assert r_empty.kind == "none" and not r_empty.escalated and r_empty.queries == ()


def test_shipped_weights_never_return_none_when_memory_holds_related_items(make_rag):
    rag = make_rag({})
    rag.add(MAGAZINES + CHAT, namespace="both", derive=False)
    cfg = rag.settings.router
    related_seen = 0
    for q in ("Hi!", "What is 2 + 2?", "Who is Maribel?", "Is the Meadow Review still published?",
              "Does Tobias like cats?", "Thanks, Maribel!", "Hi Tobias!", "Congratulations on the new job!"):
        related = holds_related(probe_memory(rag.memory, "both", q, k=cfg.probe_k), cfg)
        related_seen += bool(related)
        r = decide(rag.deps, q, "both")
        assert r.kind != "none" or not related, (q, related, r.reason)
    assert related_seen >= 4  # the check above was exercised, not vacuous


def test_low_confidence_escalates_to_iterative(make_rag, tmp_path):
    weights = biased_weights(tmp_path, [0.0, 0.2, 0.0])  # "single" wins with p = 0.38
    rag = make_rag({}, router={"weights": weights, "min_confidence": 0.5})
    rag.add(MAGAZINES, namespace="mags", derive=False)
    r = decide(rag.deps, "Where is Copper Kettle filmed?", "mags")
    assert r.kind == "iterative" and r.escalated and "confidence floor" in r.reason
    confident = make_rag({}, router={"weights": weights, "min_confidence": 0.3})
    assert decide(confident.deps, "Where is Copper Kettle filmed?", "mags").kind == "single"


def test_llm_router_setting_uses_the_generator(make_rag):
    plan = json.dumps({"kind": "single", "queries": ["Copper Kettle filming location"], "time": ""})
    rag = make_rag({"retriever/route": plan}, router={"kind": "llm"})
    rag.add(MAGAZINES, namespace="mags", derive=False)
    r = decide(rag.deps, "Where is Copper Kettle filmed?", "mags")
    assert r.source == "llm" and r.kind == "single" and r.probabilities is None
    assert r.queries == ("Where is Copper Kettle filmed?", "Copper Kettle filming location")
    assert len(rag.llm.calls_for("retriever/route")) == 1


def test_llm_router_none_is_overruled_and_unparsable_reply_falls_back_to_learned(make_rag):
    none = json.dumps({"kind": "none", "queries": [], "time": ""})
    rag = make_rag({"retriever/route": none}, router={"kind": "llm"})
    rag.add(MAGAZINES, namespace="mags", derive=False)
    r = decide(rag.deps, "Where is Copper Kettle filmed?", "mags")
    assert r.source == "llm" and r.kind == "iterative" and r.escalated and "overruled" in r.reason
    garbled = make_rag({"retriever/route": "no idea, sorry"}, router={"kind": "llm"})
    r2 = decide(garbled.deps, COMPARISON, "mags")
    assert r2.source == "learned" and r2.probabilities is not None and "unusable" in r2.reason
    assert garbled.llm.calls_for("retriever/route")
