"""Scripted answer-graph runs shared by the tracing and page tests.

``visit_every_node`` drives one run through every node of the answer graph: an
iterative route, an insufficient first verdict (note, then a second retrieval), then
a verdict that finds two current facts in conflict (refresh supersedes the older,
revise marks its evidence revised) and an answer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from agentrag.types import MemoryItem

ANSWER_NODES = {"route", "retrieve", "judge", "refresh", "revise", "note", "answer"}


def j(obj: object) -> str:
    return json.dumps(obj)


def facts(ns: str) -> tuple[MemoryItem, MemoryItem]:
    old = MemoryItem.new(namespace=ns, level="fact", text="Alice lives in Boston.", source_id="f", position=0,
                         event_time=datetime(2023, 1, 1, tzinfo=UTC))
    new = MemoryItem.new(namespace=ns, level="fact", text="Alice moved to Paris in June.", source_id="f",
                         position=1, event_time=datetime(2023, 6, 1, tzinfo=UTC))
    return old, new


def every_node_script() -> dict[str, Any]:
    return {
        "retriever/route": j({"kind": "iterative", "queries": ["where does Alice live"], "time": ""}),
        "judge/verdict": [
            j({"relevant": [1], "sufficient": False, "missing": ["Alice moved"], "conflicts": []}),
            j({"relevant": [1, 2], "sufficient": True, "missing": [],
               "conflicts": [{"older": 1, "newer": 2, "reason": "she moved to Paris"}]}),
        ],
        "notes/update": j({"note": "Alice lived in Boston; check whether she moved.",
                           "queries": ["Alice moved Paris"], "inferences": []}),
        "notes/review": j({"better": True}),
        "answerer/cited": lambda m: j({"answer": "Paris", "citations": [1]}),
    }


def visit_every_node(make_rag: Any, ns: str = "alice", thread_id: str = "trace-1", **settings: Any) -> Any:
    """Build an AgentRAG with the script above, seed two facts, and run one question; returns (rag, answer)."""
    rag = make_rag(every_node_script(), max_rounds=4, **settings)
    rag.memory.add(ns, list(facts(ns)))
    answer = rag.ask("Where does Alice live now?", namespace=ns, thread_id=thread_id)
    return rag, answer
