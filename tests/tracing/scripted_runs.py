"""Scripted answer-graph runs shared by the tracing and page tests.

``visit_every_node`` drives one run through every node of the answer graph: an
iterative route, an insufficient first verdict (note, then a second retrieval), then
a verdict that finds two current facts in conflict (refresh supersedes the older,
revise marks its evidence revised) and an answer.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from agentrag.types import MemoryItem

ANSWER_NODES = {"route", "retrieve", "judge", "refresh", "revise", "note", "answer"}


def j(obj: object) -> str:
    return json.dumps(obj)


def facts(ns: str) -> list[MemoryItem]:
    """Two chat turns (raw), a fact from each (derived from the turn) and an episode over both facts."""
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
    return [t1, t2, old, new, ep]


def passage(messages: list[Any], text: str) -> int:
    """The number the Judge's prompt gives the passage containing ``text``."""
    m = re.search(r"\[(\d+)\][^\n]*" + re.escape(text), messages[-1].content)
    assert m, f"{text!r} not among the passages"
    return int(m.group(1))


def judge_script() -> Any:
    """First verdict: not enough; second: the Boston and Paris facts conflict (Paris is newer)."""
    seen = {"n": 0}

    def verdict(messages: list[Any]) -> str:
        seen["n"] += 1
        boston = passage(messages, "Alice lives in Boston.")
        if seen["n"] == 1:
            return j({"relevant": [boston], "sufficient": False, "missing": ["Alice moved"], "conflicts": []})
        paris = passage(messages, "Alice moved to Paris in June.")
        return j({"relevant": [boston, paris], "sufficient": True, "missing": [],
                  "conflicts": [{"older": boston, "newer": paris, "reason": "she moved to Paris"}]})

    return verdict


def every_node_script() -> dict[str, Any]:
    return {
        "retriever/route": j({"kind": "iterative", "queries": ["where does Alice live"], "time": ""}),
        "judge/verdict": judge_script(),
        "notes/update": j({"note": "Alice lived in Boston; check whether she moved.",
                           "queries": ["Alice moved Paris"], "inferences": []}),
        "notes/review": j({"better": True}),
        "answerer/cited": lambda m: j({"answer": "Paris", "citations": [1]}),
    }


def visit_every_node(make_rag: Any, ns: str = "alice", thread_id: str = "trace-1", **settings: Any) -> Any:
    """Build an AgentRAG with the script above, seed two facts, and run one question; returns (rag, answer)."""
    rag = make_rag(every_node_script(), max_rounds=4, **settings)
    rag.memory.add(ns, facts(ns))
    answer = rag.ask("Where does Alice live now?", namespace=ns, thread_id=thread_id)
    return rag, answer
