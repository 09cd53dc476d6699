"""One answer-graph test per route, driven by the scripted generator over real Chroma."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from corpus import DOCS

from agentrag.errors import BackendError, InputError
from agentrag.types import MemoryItem


def j(obj: object) -> str:
    return json.dumps(obj)


ROUTE_SINGLE = j({"kind": "single", "queries": [], "time": ""})
ROUTE_ITER = j({"kind": "iterative", "queries": ["band Copenhagen", "compilation album demos"], "time": ""})
SUFFICIENT = {"judge/sufficient": 0.95}
"""P("yes") the scripted backend reports for the Judge's one-word decisions (default threshold 0.5)."""
INSUFFICIENT = {"judge/sufficient": 0.05}
UNSEEN = ["Amy Johnson aviator biopic", "Chiang Kai-shek died in Taipei", "Metallica Los Angeles 1981", "x", "y", "z"]
YES = "yes"



def cite_first(answer: str):
    return lambda messages: j({"answer": answer, "citations": [1]})


def test_no_retrieval_route(make_rag):
    rag = make_rag(
        {
            "retriever/route": j({"kind": "none", "queries": [], "time": ""}),
            "answerer/cited": j({"answer": "4", "citations": []}),
        }
    )
    rag.add(DOCS, namespace="ns", derive=False)
    a = rag.ask("What is 2 + 2?", namespace="ns")
    assert a.text == "4" and not a.abstained
    assert a.route.kind == "none" and a.evidence == () and a.rounds == 0
    assert not rag.llm.calls_for("judge/sufficient")
    assert a.usage.calls == 2 and a.usage_by_node.keys() == {"route", "answer"}


def test_one_step_route_cites_memory_items(make_rag):
    rag = make_rag(
        {"retriever/route": ROUTE_SINGLE, "judge/sufficient": YES, "answerer/cited": cite_first("Mercyful Fate")}
    )
    rag.add(DOCS, namespace="ns", derive=False)
    a = rag.ask("Which Copenhagen band released rare demo tracks?", namespace="ns")
    assert a.text == "Mercyful Fate" and a.rounds == 1
    assert a.citations[0].evidence_id == "E1"
    cited = rag.memory.get("ns", [a.citations[0].item_id])[0]
    assert "Mercyful Fate" in cited.text
    assert a.usage.calls == 3 and a.thread_id


def test_iterative_notes_stop_after_rejections(make_rag):
    rag = make_rag(
        {
            "retriever/route": ROUTE_ITER,
            "judge/sufficient": "no",
            "notes/update": [j({"note": f"note {i}", "queries": [q], "inferences": []}) for i, q in enumerate(UNSEEN)],
            "notes/review": j({"better": False}),
            "answerer/cited": cite_first("Mercyful Fate"),
        },
        notes={"max_rejections": 2, "max_steps": 9, "max_items": 99},
        max_rounds=9,
        retrieval={"top_k": 2},  # each note's query then finds passages the note has not seen
        evidence={"focus_pick": "rank"},  # no second-hop passages: the notes alone find the new ones
    )
    rag.add(DOCS, namespace="ns", derive=False)
    out = rag._graph("answer").invoke(
        {"question": "Which band?", "namespace": "ns"}, {"configurable": {"thread_id": "t1"}}, context=rag.deps
    )
    assert out["stop_reason"] == "notes: 2 rejected notes"
    assert out["note"].text == "note 0"  # the first note was kept; both candidates rejected
    assert len(rag.llm.calls_for("notes/review")) == 2


def test_iterative_notes_stop_after_steps(make_rag):
    rag = make_rag(
        {
            "retriever/route": ROUTE_ITER,
            "judge/sufficient": "no",
            "notes/update": [j({"note": f"note {i}", "queries": [q], "inferences": []}) for i, q in enumerate(UNSEEN)],
            "notes/review": j({"better": True}),
            "answerer/cited": cite_first("Mercyful Fate"),
        },
        notes={"max_rejections": 9, "max_steps": 2, "max_items": 99},
        max_rounds=9,
        retrieval={"top_k": 2},
        evidence={"focus_pick": "rank"},
    )
    rag.add(DOCS, namespace="ns", derive=False)
    a = rag.ask("Which band?", namespace="ns")
    assert a.note.text == "note 1" and a.rounds == 2
    state = rag.last_state(a.thread_id, namespace="ns")
    assert state["stop_reason"] == "notes: 2 steps"
    # the second note step asked only for queries not asked before
    asked = state["asked"]
    assert len(asked) == len(set(asked)) and UNSEEN[0] in asked


def test_iterative_notes_stop_after_unique_items(make_rag):
    rag = make_rag(
        {
            "retriever/route": ROUTE_ITER,
            "judge/sufficient": "no",
            "notes/update": [
                j({"note": f"note {i}", "queries": [f"Amy Johnson aviator {i}", f"Chiang {i}"], "inferences": []})
                for i in range(6)
            ],
            "notes/review": j({"better": True}),
            "answerer/cited": cite_first("x"),
        },
        notes={"max_rejections": 9, "max_steps": 9, "max_items": 5},
        max_rounds=9,
        retrieval={"top_k": 2},
        evidence={"focus_pick": "rank"},
    )
    rag.add(DOCS, namespace="ns", derive=False)
    out = rag._graph("answer").invoke(
        {"question": "Which band?", "namespace": "ns"}, {"configurable": {"thread_id": "t3"}}, context=rag.deps
    )
    assert out["stop_reason"].startswith("notes: ") and out["stop_reason"].endswith("unique items")
    assert int(out["stop_reason"].split()[1]) >= 5


def test_evidence_revised_when_later_evidence_contradicts(make_rag):
    def answer(messages):
        text = messages[-1].content
        return j({"answer": "Paris" if "Boston" not in text else "Boston", "citations": [1]})

    rag = make_rag(
        {
            "retriever/route": ROUTE_SINGLE,
            "judge/sufficient": YES,
            "judge/contradict": YES,
            "answerer/cited": answer,
        },
        {"judge/sufficient": 0.95, "judge/contradict": 0.95},  # confident conflict, under refresh_above
    )
    rag.add(
        [
            {"speaker": "Alice", "content": "I live in Boston.", "session_id": "s1", "time": "2023-01-05T10:00:00Z"},
            {
                "speaker": "Alice",
                "content": "I moved to Paris last month.",
                "session_id": "s2",
                "time": "2023-06-05T10:00:00Z",
            },
        ],
        namespace="ns",
        derive=False,
    )
    a = rag.ask("Where does Alice live?", namespace="ns")
    assert a.text == "Paris"
    status = {e.text: e for e in a.evidence}
    assert status["I live in Boston."].status == "revised"
    assert "contradiction" in status["I live in Boston."].reason
    assert status["I moved to Paris last month."].status == "active"
    assert "Paris" in a.citations[0].text
    # raw turns are history, not beliefs: the Refresher does not touch them
    assert all(e.event != "supersede" for i in rag.memory.list("ns") for e in rag.history(i.id, namespace="ns"))


def test_memory_refreshed_on_conflicting_facts(make_rag):
    rag = make_rag(
        {
            "retriever/route": ROUTE_SINGLE,
            "judge/sufficient": YES,
            "judge/relevant": YES,
            "judge/contradict": YES,
            "answerer/cited": lambda m: j(
                {"answer": "Paris" if "Boston" not in m[-1].content else "?", "citations": [1]}
            ),
        },
        {"judge/sufficient": 0.95, "judge/contradict": 0.99},  # over refresh_above: memory may change
        evidence={"derived_levels": True},
    )
    old = MemoryItem.new(
        namespace="ns",
        level="fact",
        text="Alice lives in Boston.",
        source_id="f",
        position=0,
        event_time=datetime(2023, 1, 1, tzinfo=UTC),
    )
    new = MemoryItem.new(
        namespace="ns",
        level="fact",
        text="Alice lives in Paris now.",
        source_id="f",
        position=1,
        event_time=datetime(2023, 6, 1, tzinfo=UTC),
    )
    rag.memory.add("ns", [old, new])
    a = rag.ask("Where does Alice live?", namespace="ns")
    assert a.text == "Paris"
    events = [e.event for e in rag.history(old.id, namespace="ns")]
    assert events[0] == "add" and "supersede" in events
    change = next(e for e in rag.history(old.id, namespace="ns") if e.event == "supersede")
    assert a.run_id and f"run {a.run_id}" in change.actor and "P=0.99" in change.reason  # which run changed memory, and why
    explained = rag.explain(old.id, namespace="ns")
    assert [i.id for i in explained.superseded_by] == [new.id]
    assert old.id not in {h.item.id for h in rag.search("Alice Boston", namespace="ns")}


def test_router_saying_none_is_overruled_when_memory_is_closely_related(make_rag):
    rag = make_rag(
        {
            "retriever/route": j({"kind": "none", "queries": [], "time": ""}),
            "judge/sufficient": YES,
            "answerer/cited": cite_first("Mercyful Fate"),
        }
    )
    rag.add(DOCS, namespace="ns", derive=False)
    a = rag.ask("Which Copenhagen band released rare demo tracks?", namespace="ns")
    # an overruled plan escalates to the iterative route (issue 9)
    assert a.route.kind == "iterative" and a.route.escalated and "overruled" in a.route.reason
    assert a.citations and a.rounds >= 1


def test_abstains_when_memory_holds_nothing_related(make_rag):
    rag = make_rag({"retriever/route": ROUTE_SINGLE})
    rag.add(DOCS, namespace="ns", derive=False)
    a = rag.ask("How cold does the sea get in winter?", namespace="ns")
    assert a.abstained and a.evidence == ()
    assert not rag.llm.calls_for("answerer/cited")


def test_abstains_when_memory_is_empty(make_rag):
    rag = make_rag({"retriever/route": ROUTE_SINGLE})
    a = rag.ask("What is Alice's dog called?", namespace="empty")
    assert a.abstained and "don't know" in a.text and a.citations == ()
    assert not rag.llm.calls_for("answerer/cited")


def test_abstains_when_model_says_it_does_not_know(make_rag):
    rag = make_rag(
        {
            "retriever/route": ROUTE_SINGLE,
            "judge/sufficient": YES,
            "judge/relevant": YES,
            "answerer/cited": j({"answer": "I don't know", "citations": []}),
        }
    )
    rag.add(DOCS, namespace="ns", derive=False)
    a = rag.ask("What is Alice's dog called?", namespace="ns")
    assert a.abstained and a.citations == ()


def test_interrupted_run_resumes_from_checkpoint(make_rag):
    state = {"fail": True}

    def flaky(messages):
        if state["fail"]:
            raise BackendError("server went away")
        return j({"answer": "Mercyful Fate", "citations": [1]})

    rag = make_rag({"retriever/route": ROUTE_SINGLE, "judge/sufficient": YES, "answerer/cited": flaky})
    rag.add(DOCS, namespace="ns", derive=False)
    with pytest.raises(BackendError):
        rag.ask("Which Copenhagen band?", namespace="ns", thread_id="crash-1")
    graph = rag._graph("answer")
    run = rag.runner.latest_run("answer", "ns", "crash-1")
    snap = graph.get_state(rag.runner.config(run, "answer"))
    assert snap.next == ("answer",)
    history = list(graph.get_state_history(rag.runner.config(run, "answer")))
    assert len(history) >= 4
    state["fail"] = False
    with pytest.raises(InputError, match="no checkpointed run"):
        rag.resume("crash-1", namespace="other")  # another namespace never sees this thread
    a = rag.resume("crash-1", namespace="ns")
    assert a.text == "Mercyful Fate"
    assert len(rag.llm.calls_for("retriever/route")) == 1  # not re-run
    assert len(rag.llm.calls_for("judge/sufficient")) == 1


def test_stream_yields_nodes_then_answer_tokens(make_rag):
    rag = make_rag(
        {
            "retriever/route": ROUTE_SINGLE,
            "judge/sufficient": YES,
            "answerer/cited": cite_first("Mercyful Fate is the band"),
        }
    )
    rag.add(DOCS, namespace="ns", derive=False)
    events = list(rag.stream("Which Copenhagen band?", namespace="ns"))
    nodes = [e.node for e in events if e.kind == "node"]
    assert nodes == ["route", "retrieve", "judge", "answer"]
    tokens = [e.text for e in events if e.kind == "token"]
    assert len(tokens) >= 3 and "".join(tokens) == "Mercyful Fate is the band"
    assert events[-1].kind == "answer" and events[-1].data.text == "Mercyful Fate is the band"


async def test_many_questions_in_flight(make_rag):
    import asyncio

    rag = make_rag(
        {"retriever/route": ROUTE_SINGLE, "judge/sufficient": YES, "answerer/cited": cite_first("Mercyful Fate")}
    )
    rag.add(DOCS, namespace="ns", derive=False)
    answers = await asyncio.gather(*(rag.aask(f"Which band {i}?", namespace="ns") for i in range(4)))
    assert [a.text for a in answers] == ["Mercyful Fate"] * 4
    assert len({a.thread_id for a in answers}) == 4
