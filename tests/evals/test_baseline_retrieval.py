"""The baselines read what their own retrieval shows: agentrag's second hop is not theirs.

The project's retrieve node runs agentrag's second-hop search for the focused read by
default; naive_rag, iter_retgen and adaptive_note share that node, and a hop passage in
their evidence would credit them with part of agentrag. Real Chroma and embedder,
scripted generator, the two-hop corpus of ``tests/graphs/test_focus_hop.py`` (whose hop
passage lies outside the raw top-k).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "graphs"))
from test_focus_hop import BRIDGE, DOCS, QUESTION

from agentrag.memory.store import SearchFilters
from evals.methods import get_methods
from evals.methods.common import MethodOptions

ANSWER = json.dumps({"answer": "Szeged", "citations": [1]})
NOTE = json.dumps({"note": "Blue Harbor Records was founded by Ilse Varga [1].", "queries": [], "inferences": []})


@pytest.mark.parametrize("name", ["naive_rag", "iter_retgen", "adaptive_note", "agentrag"])
def test_only_agentrag_reads_the_second_hop(make_rag, name):
    rag = make_rag({"answerer/cited": ANSWER, "notes/update": NOTE, "notes/review": json.dumps({"better": False}),
                    "judge/sufficient": "yes", "judge/relevant": "yes", "retriever/route": json.dumps(
                        {"kind": "single", "queries": [], "time": ""})},
                   retrieval={"top_k": 3}, evidence={"focus": 2})
    rag.add(DOCS, namespace="ns", derive=False)
    top = [h.item.text for h in rag.memory.search("ns", QUESTION, k=3, filters=SearchFilters(levels=("raw",)),
                                                  mode="hybrid")]
    assert BRIDGE not in top
    [spec] = get_methods(name)
    graph = spec.build(MethodOptions())
    out = graph.invoke({"question": QUESTION, "namespace": "ns"}, {"configurable": {"thread_id": name}},
                       context=rag.deps)
    shown = {h.item.text for h in out.get("hits", [])} | {e.text for e in out.get("evidence", [])}
    assert (BRIDGE in shown) is (name == "agentrag"), sorted(shown)
