"""Scripted answer-graph runs shared by the tracing and page tests.

``visit_every_node`` drives one run through every node of the answer graph under the
calibrated Judge (neutral thresholds, scripted P("yes")): an iterative route; a first
round whose Judge finds two current facts in conflict (refresh supersedes the older,
revise marks its evidence revised) and the evidence insufficient, so the question
escalates into the notes loop (a note, then a second retrieval and a second note,
without the Judge, as Adaptive-Note) until the round cap; then an answer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from agentrag.types import MemoryItem

ANSWER_NODES = {"route", "retrieve", "judge", "refresh", "revise", "note", "answer"}


def j(obj: object) -> str:
    return json.dumps(obj)


def facts(ns: str) -> list[MemoryItem]:
    """Two chat turns (raw), a fact from each (derived from the turn), an episode over both facts, a mover's note."""
    jan, jun = datetime(2023, 1, 5, tzinfo=UTC), datetime(2023, 6, 5, tzinfo=UTC)
    t1 = MemoryItem.new(namespace=ns, level="raw", text="I just signed the lease on my flat in Boston!",
                        source_id="chat", position=0, speaker="Alice", session_id="s1", event_time=jan)
    t2 = MemoryItem.new(namespace=ns, level="raw", text="Big news: I moved to Paris this June.",
                        source_id="chat", position=1, speaker="Alice", session_id="s2", event_time=jun)
    old = MemoryItem.new(namespace=ns, level="fact", text="Alice lives in Boston.", source_id="f", position=0,
                         event_time=jan, parents=(t1.id,))
    new = MemoryItem.new(namespace=ns, level="fact", text="Alice moved to Paris in June.", source_id="f",
                         position=1, event_time=jun, parents=(t2.id,))
    ep = MemoryItem.new(namespace=ns, level="episode", text="Alice talked about where she lives: Boston, then Paris.",
                        source_id="ep", position=0, event_time=jun, parents=(old.id, new.id))
    # found only by the second note's query ("Paris"): the second note step has unseen evidence to note
    t3 = MemoryItem.new(namespace=ns, level="raw", text="Forty boxes reached Paris on 3 June.", source_id="movers",
                        position=0, session_id="s2", event_time=jun)
    return [t1, t2, old, new, ep, t3]


NEUTRAL = {"sufficient_above": 0.5, "insufficient_below": 0.5, "drop_below": 0.1, "conflict_above": 0.9,
           "refresh_above": 0.97}
"""Decision thresholds under which a scripted P("yes") means what it says (as in tests/graphs/conftest.py)."""

PATH = ["route", "retrieve", "judge", "refresh", "revise", "note", "retrieve", "note", "answer"]
"""The node visits of ``visit_every_node``: the Judge looks once, then the notes loop (retrieve -> note) runs."""

FIRST_NOTE = "Alice lived in Boston; check whether she moved."
SECOND_NOTE = "Alice lived in Boston, then moved to Paris in June."


def every_node_script() -> dict[str, Any]:
    return {
        "retriever/route": j({"kind": "iterative", "queries": ["where does Alice live"], "time": ""}),
        "judge/relevant": "yes",
        "judge/contradict": "yes",
        "judge/sufficient": "no",
        "notes/update": [j({"note": FIRST_NOTE, "queries": ["Alice moved Paris"], "inferences": []}),
                         j({"note": SECOND_NOTE, "queries": [], "inferences": []})],
        "notes/review": j({"better": True}),
        "answerer/cited": lambda m: j({"answer": "Paris", "citations": [1]}),
    }


PROBABILITIES = {"judge/relevant": 0.9, "judge/contradict": 0.99, "judge/sufficient": 0.2}
"""Every added passage relevant; the Boston and Paris facts contradict (over ``refresh_above``: memory is
refreshed); the evidence is not sufficient, so the question escalates into the notes loop."""


def visit_every_node(make_rag: Any, ns: str = "alice", thread_id: str = "trace-1", **settings: Any) -> Any:
    """Build an AgentRAG with the script above, seed two facts, and run one question; returns (rag, answer)."""
    rag = make_rag(every_node_script(), PROBABILITIES, max_rounds=2, decisions=NEUTRAL,
                   evidence={"derived_levels": True}, notes={"enabled": True}, **settings)
    rag.memory.add(ns, facts(ns))
    answer = rag.ask("Where does Alice live now?", namespace=ns, thread_id=thread_id)
    return rag, answer
