"""The operations the SIGKILL crash suite interrupts, and the state dump it compares.

Each operation has a ``setup`` (the memory it starts from, built once and copied
per trial), a ``run`` (the operation itself, killed at a random point) and a
``finish`` (what a user does after the crash: re-run the same call, or for an
answer, resume the checkpointed run and ask again). ``dump`` reads everything the
suite promises to keep consistent (items, history, provenance, BM25 contents)
into plain JSON, with what legitimately differs between two runs (wall-clock
times, run ids) left out or normalised.

Everything here runs inside forked children of ``crash_server.py``; nothing here
may be imported by the pytest process itself (it would open Chroma before a fork).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentrag.api import AgentRAG
from agentrag.ledger import content_hash
from agentrag.memory.embedder import Embedder
from agentrag.settings import Settings, load_settings
from agentrag.testing import Reply, ScriptedChatModel
from agentrag.types import LEVELS, MemoryItem

NS = "crash"
SECRET = "ZX-PASSPORT-55120987"
THREAD = "t-crash"
Hook = Callable[[str], None]


def j(obj: object) -> str:
    return json.dumps(obj)


# -- the conversation ------------------------------------------------------------------
def _turn(speaker: str, text: str, session: str, minute: int) -> dict[str, str]:
    return {"speaker": speaker, "content": text, "session_id": session, "time": f"2024-03-0{session[-1]}T10:{minute:02d}:00Z"}


S1 = [
    _turn("Alice", f"My passport number is {SECRET}, keep it safe.", "s1", 0),
    _turn("Bob", "I live in Boston and work night shifts as a nurse.", "s1", 1),
    _turn("Alice", "I adopted a tabby cat named Milo last week.", "s1", 2),
    _turn("Bob", "Milo sounds lovely; I prefer green tea to coffee.", "s1", 3),
]
S2 = [
    _turn("Bob", "Big news: I moved to Denver for a new hospital job.", "s2", 0),
    _turn("Alice", "Congratulations! Milo and I will visit in spring.", "s2", 1),
    _turn("Bob", "Denver has great hiking trails near the city.", "s2", 2),
]
S3 = [
    _turn("Carol", "I play the cello in a string quartet on Fridays.", "s3", 0),
    _turn("Dan", "Our quartet rehearses Dvorak's American quartet.", "s3", 1),
    _turn("Carol", "The viola player is new and very good.", "s3", 2),
]
FACTS = {  # a turn's words -> the fact the scripted Constructor extracts from it
    "passport": f"Alice's passport number is {SECRET}.",
    "Boston": "Bob lives in Boston.",
    "tabby": "Alice has a tabby cat named Milo.",
    "green tea": "Bob prefers green tea to coffee.",
    "Denver for": "Bob lives in Denver.",
    "visit": "Alice will visit Bob in spring.",
    "cello": "Carol plays the cello in a string quartet.",
}


def facts(messages: Any) -> str:
    """One fact per turn that has one, citing that turn's number."""
    out = []
    for line in messages[-1].content.splitlines():
        m = re.match(r"\[(\d+)\]", line)
        if m:
            for key, fact in FACTS.items():
                if key in line:
                    out.append({"text": fact, "from": [int(m.group(1))]})
    return j({"facts": out})


def episode(messages: Any) -> str:
    text = messages[-1].content
    if SECRET in text:
        return j({"summary": f"Alice shared passport {SECRET}; Bob talked about Boston, tea and Milo."})
    if "Denver" in text:
        return j({"summary": "Bob moved to Denver for a hospital job; Alice plans a visit."})
    return j({"summary": "Carol and Dan talked about their string quartet."})


def consistency(messages: Any) -> str:
    """The Denver fact makes the Boston fact outdated; nothing else conflicts."""
    text = messages[-1].content
    new = text.rsplit("New fact:", 1)[-1]
    if "Denver" in new:
        for line in text.splitlines():
            m = re.match(r"\[(\d+)\].*Boston", line)
            if m:
                return j({"contradicts": [int(m.group(1))], "reason": "Bob moved"})
    return j({"contradicts": [], "reason": ""})


def answer(messages: Any) -> str:
    text = messages[-1].content
    if "passport" in text.rsplit("Question:", 1)[-1]:
        return j({"answer": f"Your passport number is {SECRET}." if SECRET in text else "I don't know", "citations": [1]})
    stale = "Bob lives in Boston." in text  # the fact the Refresher retires during the answer
    return j({"answer": "Boston or Denver" if stale else "Denver", "citations": [1]})


SCRIPT: dict[str, Reply] = {
    "notes/update": j({"note": "", "queries": [], "inferences": []}),
    "notes/review": j({"better": False}),
    "retriever/route": j({"kind": "single", "queries": [], "time": ""}),
    "constructor/facts": facts,
    "constructor/episode": episode,
    "judge/consistency": consistency,
    "judge/duplicate": j({"duplicate": False}),
    "judge/sufficient": "yes",
    "judge/relevant": "yes",
    "judge/contradict": "yes",
    "answerer/cited": answer,
}
PROBABILITIES: dict[str, float | list[float]] = {"judge/sufficient": 0.95, "judge/contradict": 0.99}
DECISIONS = {"sufficient_above": 0.5, "insufficient_below": 0.5, "drop_below": 0.1, "conflict_above": 0.9,
             "refresh_above": 0.97}


def settings(data: Path, dsn: str | None) -> Settings:
    extra: dict[str, Any] = {"state": {"kind": "postgres", "dsn": dsn}} if dsn else {}
    return load_settings(
        data_dir=data, router={"kind": "llm"}, decisions=DECISIONS, evidence={"derived_levels": True}, **extra
    )


def open_rag(data: Path, embedder: Embedder, dsn: str | None) -> AgentRAG:
    return AgentRAG(settings(data, dsn), llm=ScriptedChatModel(replies=SCRIPT, probabilities=PROBABILITIES),
                    embedder=embedder)


def instrument(rag: AgentRAG, hook: Hook | None) -> None:
    """Call ``hook`` before every write the operation makes: memory write stages and checkpoint writes."""
    if hook is None:
        return
    store = rag.memory
    store.fault_hook = hook  # type: ignore[attr-defined]
    saver = rag.runner.checkpointer
    for name in ("put", "put_writes", "delete_thread"):
        real = getattr(saver, name)

        def wrapped(*a: Any, _real: Any = real, _name: str = name, **k: Any) -> Any:
            hook(f"checkpoint.{_name}")
            return _real(*a, **k)

        setattr(saver, name, wrapped)


# -- the operations -------------------------------------------------------------------
def _fact(text: str, pos: int, parents: tuple[str, ...] = (), day: int = 1) -> MemoryItem:
    from datetime import UTC, datetime

    return MemoryItem.new(namespace=NS, level="fact", text=text, source_id="facts:manual", position=pos,
                          parents=parents, event_time=datetime(2024, 3, day, tzinfo=UTC))


OLD_FACTS = [_fact("Carol lives in Leeds.", 0), _fact("Dan drives a red van.", 1), _fact("Eve works at the bakery.", 2)]
NEW_FACTS = [
    _fact("Carol lives in York now.", 10, day=5),
    _fact("Dan drives a blue bike.", 11, day=5),
    _fact("Eve works at the library.", 12, day=5),
]


@dataclass(frozen=True)
class Operation:
    """One operation of the suite."""

    name: str
    setup: Callable[[AgentRAG], None]
    run: Callable[[AgentRAG], dict[str, Any]]
    finish: Callable[[AgentRAG], dict[str, Any]]
    """After a crash: complete the operation (for most, the same call again)."""
    then: Callable[[AgentRAG], dict[str, Any]] | None = None
    """What the reference does after ``run`` (not counted, never killed): what ``finish`` adds."""


def _nothing(rag: AgentRAG) -> None:
    return None


def _ingest_raw(rag: AgentRAG) -> dict[str, Any]:
    rag.add([*S1, *S2, *S3], namespace=NS, derive=False)
    rag.add("A long document. " + " ".join(f"Sentence {i} talks about item {i}." for i in range(40)),
            namespace=NS, source_id="doc-long", derive=False)
    return {}


def _ingest_derived(rag: AgentRAG) -> dict[str, Any]:
    rag.add([*S1, *S2, *S3], namespace=NS)
    return {}


def _setup_answer(rag: AgentRAG) -> None:
    rag.add([*S1, *S3], namespace=NS, derive=False)
    rag.memory.add(NS, [_fact("Bob lives in Boston.", 0), _fact("Bob lives in Denver.", 1, day=4)])


def _ask(rag: AgentRAG) -> dict[str, Any]:
    return {"first": rag.ask("Where does Bob live?", namespace=NS, thread_id=THREAD).text}


def _ask_again(rag: AgentRAG) -> dict[str, Any]:
    return {"again": rag.ask("Where does Bob live?", namespace=NS, thread_id=THREAD).text}


def _resume_then_ask(rag: AgentRAG) -> dict[str, Any]:
    """Resume the interrupted run from its checkpoint (ask anew if it left none), then ask once more."""
    if rag.runner.latest_run("answer", NS, THREAD) is not None:
        first = {"first": rag.resume(THREAD, namespace=NS).text}
    else:
        first = _ask(rag)
    return {**first, **_ask_again(rag)}


def _setup_supersede(rag: AgentRAG) -> None:
    rag.add([*S3], namespace=NS, derive=False)
    rag.memory.add(NS, OLD_FACTS)


def _supersede(rag: AgentRAG) -> dict[str, Any]:
    from agentrag.agents.refresher import supersede_all

    raw = rag.memory.list(NS, "raw")
    news = [f.model_copy(update={"parents": (raw[i].id,)}) for i, f in enumerate(NEW_FACTS)]
    pairs = [(old, new, "changed") for old, new in zip(OLD_FACTS, news, strict=True)]
    done = supersede_all(rag.memory, NS, pairs, actor="refresher")
    return {"superseded": done}


def _setup_forget(rag: AgentRAG) -> None:
    rag.add([*S1, *S2, *S3], namespace=NS)
    assert SECRET in rag.ask("What is my passport number?", namespace=NS, thread_id="t-quote").text


def _forget(rag: AgentRAG) -> dict[str, Any]:
    from agentrag.forgetting import forget
    from agentrag.ingest import documents_from, to_raw_items

    # By id, as a user would: after a crash the re-run names the same item, which may be gone already.
    ids = [it.id for it in to_raw_items(documents_from([*S1, *S2, *S3]), NS) if SECRET in it.text]
    report = forget(rag.settings, rag.memory, rag.runner.checkpointer, NS, ids, reason="user asked", actor="user")
    return {"forgot": report.items > 0}


OPERATIONS: dict[str, Operation] = {
    "ingest_raw": Operation("ingest_raw", _nothing, _ingest_raw, _ingest_raw),
    "ingest_derived": Operation("ingest_derived", _nothing, _ingest_derived, _ingest_derived),
    "answer": Operation("answer", _setup_answer, _ask, _resume_then_ask, _ask_again),
    "supersede": Operation("supersede", _setup_supersede, _supersede, _supersede),
    "forget": Operation("forget", _setup_forget, _forget, _forget),
}


# -- the dump -------------------------------------------------------------------------
_RUN = re.compile(r"[0-9a-f]{32}")


def _norm(s: str | None) -> str | None:
    return None if s is None else _RUN.sub("<run>", s)


def dump(rag: AgentRAG, data: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """Items, history, provenance and BM25 contents of the namespace, as comparable JSON."""
    store: Any = rag.memory
    items = sorted(store.list(NS, include_invalid=True, limit=100_000), key=lambda i: i.id)
    ever: set[str] = {i.id for i in items}
    for level in LEVELS:
        ever |= {c.item_id for c in store.ledger.changes_since(NS, level, 0)}
    history = {
        i: [[e.event, _norm(e.actor), _norm(e.reason), e.before, e.after, e.related_id] for e in store.history(NS, i)]
        for i in sorted(ever)
    }
    for level in LEVELS:  # catch the BM25 indexes up (this process's, patched by its own writes, then the ledger)
        store.search(NS, "Bob Alice Carol cat quartet", k=5, mode="sparse", filters=_only(level))
    bm25 = {
        lv: {i: [toks, closed] for i, (toks, closed) in sorted(_live(idx).items())}
        for (ns, lv), idx in store.sparse.cached() if ns == NS
    }
    texts = [(i.level, i.text) for i in items if i.valid_to is None]
    return {
        "items": {
            i.id: {"level": i.level, "text": i.text, "version": i.version, "superseded_by": i.superseded_by,
                   "closed": i.valid_to is not None, "parents": list(i.parents), "source": i.source_id,
                   "position": i.position, "session": i.session_id, "speaker": i.speaker,
                   "event_time": i.event_time.isoformat() if i.event_time else None, "meta": i.meta}
            for i in items
        },
        "duplicate_texts": len(texts) - len(set(texts)),
        "history": history,
        "provenance": sorted([e.src, e.dst, e.kind] for e in store.ledger.edges(NS)),
        "bm25": bm25,
        "secret_on_disk": files_holding(data, SECRET) if extra.get("forgot") is not None else [],
        "secret_hash": content_hash(SECRET),
        **{k: v for k, v in extra.items() if k != "forgot"},
    }


def _only(level: str) -> Any:
    from agentrag.memory import SearchFilters

    return SearchFilters(levels=(level,))  # type: ignore[arg-type]


def _live(idx: Any) -> dict[str, tuple[str, bool]]:
    from agentrag.memory.records import OPEN_END_US

    return {i: (toks, vt != OPEN_END_US) for i, (toks, vt) in idx.live().items()}


def files_holding(root: Path, needle: str) -> list[str]:
    """Files under ``root`` whose bytes hold ``needle``, and SQLite files whose dump does."""
    raw = needle.encode()
    found = [str(p.relative_to(root)) for p in sorted(root.rglob("*")) if p.is_file() and raw in p.read_bytes()]
    for db in sorted(root.rglob("*")):
        if db.is_file() and db.read_bytes()[:16] == b"SQLite format 3\x00":
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                text = "\n".join(conn.iterdump())
            finally:
                conn.close()
            if needle in text:
                found.append(f"dump of {db.relative_to(root)}")
    return found
