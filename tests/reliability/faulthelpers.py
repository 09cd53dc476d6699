"""What every fault test checks: the store read back whole, its parts agreeing, and one error shape.

``state(store, ns)`` reads what a user could see (items of every level, valid or not;
each item's history; provenance; what BM25 holds after catching up), so "nothing
half-written" is ``state`` equal before and after a failed call, or equal to an
uninterrupted run's after the call is re-run. ``consistent`` checks the three parts
agree with each other: every item the ledger says exists is in Chroma and in BM25,
and nothing else is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentrag.api import AgentRAG
from agentrag.memory import ChromaStore, SearchFilters
from agentrag.server.errors import ErrorBody
from agentrag.settings import load_settings
from agentrag.testing import ScriptedChatModel
from agentrag.types import LEVELS

NS = "alice"
QUESTION = "Where does Alice live?"
FIRST = [
    {
        "speaker": "Alice",
        "content": "I moved to Paris last spring.",
        "session_id": "s1",
        "time": "2024-03-01T10:00:00Z",
    },
]
SECOND = [
    {
        "speaker": "Bob",
        "content": "Bob lives in Boston and works nights.",
        "session_id": "s2",
        "time": "2024-04-01T10:00:00Z",
    },
    {"speaker": "Bob", "content": "Bob adopted a tabby cat.", "session_id": "s2", "time": "2024-04-01T10:01:00Z"},
]


def _j(obj: object) -> str:
    return json.dumps(obj)


def _facts(messages: Any) -> str:
    text = messages[-1].content
    if "Boston" in text:
        return _j({"facts": [{"text": "Bob lives in Boston.", "from": [1], "speaker": "Bob"}]})
    return _j({"facts": [{"text": "Alice lives in Paris.", "from": [1], "speaker": "Alice"}]})


SCRIPT: dict[str, Any] = {
    "constructor/facts": _facts,
    "constructor/episode": _j({"summary": "A chat about where people live."}),
    "judge/consistency": _j({"contradicts": [], "reason": ""}),
    "judge/duplicate": _j({"duplicate": False}),
    "retriever/route": _j({"kind": "single", "queries": [], "time": ""}),
    "judge/verdict": _j({"relevant": [1], "sufficient": True, "missing": [], "conflicts": []}),
    "answerer/cited": _j({"answer": "Alice lives in Paris.", "citations": [1]}),
    "notes/update": _j({"note": "", "queries": [], "inferences": []}),
    "notes/review": _j({"better": False}),
}


def scripted_rag(embedder: Any, data_dir: Path, **settings: Any) -> AgentRAG:
    """An AgentRAG on the scripted generator (SCRIPT), real Chroma and the real embedder."""
    return AgentRAG(
        load_settings(data_dir=data_dir, **settings), llm=ScriptedChatModel(replies=SCRIPT), embedder=embedder
    )


TIMEOUT_S = 0.5
MAX_RETRIES = 1
"""The LLM client's settings in the fault suite: short, so a slow backend fails in about a second."""


@dataclass
class Result:
    """What a CLI command did."""

    code: int
    out: str
    err: str


def bm25(store: ChromaStore, ns: str) -> dict[str, dict[str, tuple[str, int]]]:
    """What each level's BM25 index holds after catching up: id -> (tokens, validity end)."""
    for level in LEVELS:
        store.search(ns, "Alice Bob lives", k=3, mode="sparse", filters=SearchFilters(levels=(level,)))
    return {lv: dict(idx.live()) for (n, lv), idx in store.sparse.cached() if n == ns}


def state(store: ChromaStore, ns: str) -> dict[str, Any]:
    """Items, history, provenance and BM25 of a namespace, as comparable values (times left out of items)."""
    items = sorted(store.list(ns, include_invalid=True, limit=1000), key=lambda i: i.id)
    return {
        "items": [(i.id, i.level, i.text, i.version, i.superseded_by, i.valid_to is None, i.parents) for i in items],
        "history": {i.id: [(e.event, e.reason, e.before, e.after) for e in store.history(ns, i.id)] for i in items},
        "history_entries": store.ledger.count(ns),
        "provenance": sorted((e.src, e.dst, e.kind) for e in store.ledger.edges(ns)),
        "bm25": {lv: {i: toks for i, (toks, _) in docs.items()} for lv, docs in bm25(store, ns).items()},
    }


def consistent(store: ChromaStore, ns: str) -> None:
    """Ledger, Chroma and BM25 name the same items, level by level (no half-written item anywhere)."""
    indexed = bm25(store, ns)
    for level in LEVELS:
        in_ledger = {c.item_id for c in store.ledger.changes_since(ns, level, 0) if c.event != "forget"}
        in_chroma = {i.id for i in store.list(ns, level, include_invalid=True, limit=1000)}
        assert in_ledger == in_chroma, (level, in_ledger ^ in_chroma)
        assert set(indexed.get(level, {})) == in_chroma, (level, set(indexed.get(level, {})) ^ in_chroma)


def error_body(resp: Any, *statuses: int) -> ErrorBody:
    """The response is one of ``statuses`` with the one error shape; returns the parsed body."""
    assert resp.status_code in statuses, (resp.status_code, resp.text[:500])
    assert resp.headers["content-type"].startswith("application/json")
    data = resp.json()
    assert set(data) == {"error", "status", "detail", "fields"}, data
    body = ErrorBody.model_validate(data)
    assert body.status == resp.status_code and body.detail
    assert "Traceback" not in body.detail
    return body


def one_line_error(res: Any) -> str:
    """A CLI result that failed with one ``error:`` line, last on stderr, and a non-zero status; returns the line.

    Progress lines (a spinner) may come before it; nothing may come after it.
    """
    assert res.code not in (0, 1), (res.code, res.out, res.err)  # 1 is "internal error" (a bug)
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], res.err
    assert "Traceback" not in res.err + res.out
    return errors[0]
