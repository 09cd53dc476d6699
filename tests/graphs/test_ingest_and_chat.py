"""The ingest graph (Constructor -> Judge -> Refresher) and the chat graph, scripted over real Chroma."""

from __future__ import annotations

import json


def j(obj: object) -> str:
    return json.dumps(obj)


def facts_from_turns(messages) -> str:
    text = messages[-1].content
    facts = []
    if "Boston" in text:
        facts.append(
            {"text": "Alice lives in Boston.", "from": [1], "speaker": "Alice", "entities": ["Alice", "Boston"]}
        )
    if "Paris" in text:
        facts.append({"text": "Alice moved to Paris.", "from": [1], "speaker": "Alice", "entities": ["Alice", "Paris"]})
    if "tea" in text:
        facts.append({"text": "Alice likes green tea.", "from": [1], "speaker": "Alice", "entities": ["Alice"]})
    return j({"facts": facts})


def consistency(messages) -> str:
    text = messages[-1].content
    contradicts = [1] if "New fact: Alice moved to Paris." in text and "Boston" in text else []
    return j({"contradicts": contradicts, "reason": "Alice moved from Boston to Paris" if contradicts else ""})


def contradict(messages) -> str:
    """The Judge's job, scripted: the Boston statement and the Paris one contradict each other."""
    text = messages[-1].content
    return "yes" if "Boston" in text and "Paris" in text else "no"


def answer_from_passages(messages) -> str:
    text = messages[-1].content
    return j({"answer": "Paris" if "Paris" in text and "Boston" not in text else "Boston?", "citations": [1]})


SCRIPT = {
    "constructor/facts": facts_from_turns,
    "constructor/episode": j({"summary": "Alice talked about where she lives."}),
    "judge/consistency": consistency,
    "judge/duplicate": j({"duplicate": True}),
    "retriever/route": j({"kind": "single", "queries": [], "time": ""}),
    "judge/sufficient": "yes",
    "judge/relevant": "yes",
    "judge/contradict": contradict,
    "answerer/cited": answer_from_passages,
}

SESSION_1 = [
    {
        "speaker": "Alice",
        "content": "Hi! I live in Boston these days.",
        "session_id": "s1",
        "time": "2023-01-05T10:00:00Z",
    },
    {"speaker": "Bob", "content": "Nice, how is the weather?", "session_id": "s1", "time": "2023-01-05T10:01:00Z"},
    {"speaker": "Alice", "content": "Cold. I drink a lot of tea.", "session_id": "s1", "time": "2023-01-05T10:02:00Z"},
]
SESSION_2 = [
    {
        "speaker": "Alice",
        "content": "Big news: I moved to Paris last week!",
        "session_id": "s2",
        "time": "2023-06-05T10:00:00Z",
    },
]


def test_later_session_supersedes_earlier_fact(make_rag):
    rag = make_rag(dict(SCRIPT))
    first = rag.add(SESSION_1, namespace="alice")
    assert first.facts == 2 and first.episodes == 1 and first.conflicts == 0
    assert rag.memory.count("alice", "raw") == 3
    assert rag.memory.count("alice", "fact") == 2
    assert rag.memory.count("alice", "episode") == 1

    second = rag.add(SESSION_2, namespace="alice")
    assert second.conflicts == 1 and len(second.superseded) == 1
    boston = rag.memory.get("alice", [second.superseded[0]])[0]
    assert boston.text == "Alice lives in Boston." and boston.valid_to is not None

    # history keeps both: the old fact's text, the reason and its successor
    hist = rag.history(boston.id, namespace="alice")
    sup = [h for h in hist if h.event == "supersede"]
    assert sup and "moved" in sup[0].reason and sup[0].actor == "refresher"
    explained = rag.explain(boston.id, namespace="alice")
    assert [i.text for i in explained.superseded_by] == ["Alice moved to Paris."]
    assert any("Boston" in p.text for p in explained.derived_from)  # down to the raw turn

    # current facts: Paris, not Boston; the answer uses the new one
    current = {i.text for i in rag.memory.list("alice", "fact")}
    assert "Alice moved to Paris." in current and "Alice lives in Boston." not in current
    a = rag.ask("Where does Alice live?", namespace="alice")
    assert a.text == "Paris"
    assert all("Boston" not in c.text for c in a.citations)
    assert all(e.status == "revised" for e in a.evidence if "Boston" in e.text)


def test_reingesting_adds_nothing_and_calls_no_model(make_rag):
    rag = make_rag(dict(SCRIPT))
    rag.add(SESSION_1, namespace="alice")
    counts = {lvl: rag.memory.count("alice", lvl) for lvl in ("raw", "fact", "episode")}
    calls = len(rag.llm.calls)
    again = rag.add(SESSION_1, namespace="alice")
    assert again.written == 0 and again.facts == 0
    assert {lvl: rag.memory.count("alice", lvl) for lvl in ("raw", "fact", "episode")} == counts
    assert len(rag.llm.calls) == calls


def test_duplicate_fact_is_not_stored_twice(make_rag):
    rag = make_rag(dict(SCRIPT))
    rag.add(SESSION_1, namespace="alice")
    rep = rag.add(
        [
            {
                "speaker": "Alice",
                "content": "As I said, I live in Boston.",
                "session_id": "s3",
                "time": "2023-02-01T10:00:00Z",
            }
        ],
        namespace="alice",
    )
    assert rep.duplicates == 1 and rep.facts == 0
    assert rag.memory.count("alice", "fact") == 2


def test_raw_only_ingest_skips_the_model(make_rag):
    rag = make_rag({})
    rep = rag.add(["Plain document one.", "Plain document two."], namespace="docs", derive=False)
    assert rep.written == 2 and rep.facts == 0 and rag.llm.calls == []


def test_chat_answers_then_remembers_the_turn(make_rag):
    rag = make_rag(dict(SCRIPT))
    rag.add(SESSION_1, namespace="alice")
    a = rag.chat("By the way, I moved to Paris.", namespace="alice", session_id="chat-1", speaker="Alice")
    assert a.thread_id
    assert any("moved to Paris" in i.text for i in rag.memory.list("alice", "raw"))
    assert "Alice moved to Paris." in {i.text for i in rag.memory.list("alice", "fact")}
    b = rag.ask("Where does Alice live?", namespace="alice")
    assert b.text == "Paris"
