"""The focused read's second hop: the bridge passage the question does not name.

A two-hop question names the first passage's entity (a record label) and asks about
another one (its founder's birthplace); naive retrieval ranks passages that share the
question's words above the founder's own passage. The retriever's second search, for the
question plus naive retrieval's best passage, finds it (``evidence.focus_pick: hop``,
the default): the focused read sees the best passage and the bridge, the final answer
sees the bridge beside the whole raw top-k, and ``rank`` shows the top N as before.
Real Chroma and embedder, scripted generator.
"""

from __future__ import annotations

import json
import re

from test_escalation import naive_hits, replies

QUESTION = "In which city was the founder of Blue Harbor Records born?"
LABEL = "Blue Harbor Records is an independent record label founded by Ilse Varga in 1994."
BRIDGE = "Ilse Varga, an independent label pioneer of 1994, grew up in Szeged, Hungary."
DOCS = [
    {"text": LABEL, "source_id": "label"},
    {"text": BRIDGE, "source_id": "bridge"},
    {"text": "The founder of the city of Lyon was born in Rome, the city of his fathers.", "source_id": "d1"},
    {"text": "Which city was she born in, asked the founder of the city's chess club.", "source_id": "d2"},
    {"text": "Many a jazz founder was born in a river city.", "source_id": "d3"},
]
FIRST = json.dumps({"answer": "Szeged", "citations": [2]})
FINAL = json.dumps({"answer": "Szeged, Hungary", "citations": [1]})


def shown(call) -> list[str]:
    """The passages of one answer call, in prompt order."""
    return re.findall(r"^\[\d+\] (.+)$", str(call.messages[-1].content), flags=re.MULTILINE)


def run(make_rag, **evidence: object):
    calls = iter([FIRST, FINAL])
    rag = make_rag({**replies("yes"), "judge/relevant": "yes", "answerer/cited": lambda messages: next(calls)},
                   {"judge/sufficient": 0.99}, retrieval={"top_k": 3}, evidence={"focus": 2, **evidence})
    rag.add(DOCS, namespace="ns", derive=False)
    graph, config = rag._graph("answer"), {"configurable": {"thread_id": "t"}}
    graph.invoke({"question": QUESTION, "namespace": "ns"}, config, context=rag.deps)
    return rag, graph.get_state(config).values


def test_naive_retrieval_misses_the_bridge(make_rag):
    rag, _ = run(make_rag)
    top = [h.item.text for h in naive_hits(rag, QUESTION)]
    assert top[0] == LABEL and BRIDGE not in top, "the premise: the question does not find its second passage"


def test_the_focused_read_sees_the_best_passage_and_the_bridge(make_rag):
    rag, out = run(make_rag)
    first, final = rag.llm.calls_for("answerer/cited")
    assert shown(first) == [LABEL, BRIDGE]
    top = [h.item.text for h in naive_hits(rag, QUESTION)]
    assert set(top) <= set(shown(final)) and BRIDGE in shown(final), "the answer sees the raw top-k and the bridge"
    [focus] = [d for d in out["decisions"] if d["kind"] == "focus"]
    assert focus["hop"] == 1 and focus["outcome"] == "answered"
    assert "Notes so far: The best 2 passages alone answer: Szeged" in str(final.messages[-1].content)


def test_rank_pick_reads_the_top_n_and_adds_no_hop(make_rag):
    rag, out = run(make_rag, focus_pick="rank")
    first, final = rag.llm.calls_for("answerer/cited")
    top = [h.item.text for h in naive_hits(rag, QUESTION)]
    assert shown(first) == top[:2] and BRIDGE not in shown(final)
    assert "focus" not in out
    [focus] = [d for d in out["decisions"] if d["kind"] == "focus"]
    assert focus["hop"] == 0


def test_default_pick_is_the_hop(tmp_path):
    from agentrag.settings import load_settings

    assert load_settings(data_dir=tmp_path).evidence.focus_pick == "hop"


def test_focus_last_keeps_every_passage_and_ends_with_the_focused_ones(make_rag):
    rag, _ = run(make_rag)  # the default order
    _, final = rag.llm.calls_for("answerer/cited")
    top = [h.item.text for h in naive_hits(rag, QUESTION)]
    assert shown(final)[-2:] == [LABEL, BRIDGE], "the focused read's passages sit next to the question and note"
    assert set(top) <= set(shown(final)), "the answer still sees the whole raw top-k"
    assert len(shown(final)) == len(set(shown(final))), "no passage shown twice"


def test_floor_first_shows_the_raw_top_k_first(make_rag):
    rag, _ = run(make_rag, order="floor_first")
    _, final = rag.llm.calls_for("answerer/cited")
    top = [h.item.text for h in naive_hits(rag, QUESTION)]
    assert shown(final)[: len(top)] == top and shown(final)[-1] == BRIDGE


def test_default_order_is_focus_last(tmp_path):
    from agentrag.settings import load_settings

    assert load_settings(data_dir=tmp_path).evidence.order == "focus_last"
