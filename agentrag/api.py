"""``AgentRAG``: the Python facade app builders use.

One object holds the settings and the backends (created lazily, so constructing
it is cheap) and runs the graphs in ``graphs/`` with them. Every call is scoped
by ``namespace``; the memory store enforces it again on its side.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from agentrag.checkpoints import async_sqlite_saver, sqlite_saver
from agentrag.deps import Deps
from agentrag.errors import InputError
from agentrag.ingest import Document, documents_from, to_raw_items
from agentrag.llm.usage import UsageTracker
from agentrag.memory.embedder import Embedder
from agentrag.memory.store import Explanation, HistoryEntry, MemoryStore, SearchFilters
from agentrag.prompts import PromptLibrary, default_library
from agentrag.settings import Settings, load_settings
from agentrag.streaming import AnswerTextStream, StreamEvent
from agentrag.types import Answer, Hit, MemoryItem, TokenUsage

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000


def check_question(question: str) -> str:
    """Refuse empty, huge or binary questions with a clear message."""
    if not isinstance(question, str):
        raise InputError(f"question must be a string, got {type(question).__name__}")
    q = question.strip()
    if not q:
        raise InputError("question is empty")
    if len(q) > MAX_QUESTION_CHARS:
        raise InputError(f"question is {len(q)} characters; the limit is {MAX_QUESTION_CHARS}")
    if "\x00" in q:
        raise InputError("question contains NUL bytes; is it binary data?")
    return q


class AgentRAG:
    """Question answering and chat over a long-lived, namespaced memory."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        llm: BaseChatModel | None = None,
        memory: MemoryStore | None = None,
        embedder: Embedder | None = None,
        prompts: PromptLibrary | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self._llm = llm
        self._memory = memory
        self._embedder = embedder
        self.prompts = prompts or default_library()
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._graphs: dict[str, Any] = {}

    # -- backends -----------------------------------------------------------------
    @property
    def llm(self) -> BaseChatModel:
        """The generator (built from settings on first use)."""
        if self._llm is None:
            from agentrag.llm.factory import make_llm

            self._llm = make_llm(self.settings.llm)
        return self._llm

    @property
    def memory(self) -> MemoryStore:
        """The memory store (opened from settings on first use)."""
        if self._memory is None:
            from agentrag.memory import open_store

            self._memory = open_store(self.settings, self._embedder)
        return self._memory

    @property
    def deps(self) -> Deps:
        """The run context handed to graph nodes."""
        return Deps(llm=self.llm, memory=self.memory, settings=self.settings, prompts=self.prompts)

    @property
    def checkpoint_path(self) -> Path:
        """SQLite file holding graph checkpoints (resumable runs by thread id)."""
        return self.settings.data_dir / "checkpoints.sqlite"

    def _graph(self, name: str) -> Any:
        if name not in self._graphs:
            if self._checkpoint_conn is None:
                self.settings.data_dir.mkdir(parents=True, exist_ok=True)
                self._checkpoint_conn = sqlite3.connect(str(self.checkpoint_path), check_same_thread=False)
            self._graphs[name] = _build(name, sqlite_saver(self._checkpoint_conn))
        return self._graphs[name]

    # -- memory -------------------------------------------------------------------
    def add(
        self,
        data: str | Document | Iterable[str | Document | dict[str, Any]],
        *,
        namespace: str,
        source_id: str | None = None,
        derive: bool = True,
        thread_id: str | None = None,
    ) -> IngestReport:
        """Add documents or chat messages to memory through the ingest graph.

        Raw items are kept verbatim; with ``derive`` (the default) the Constructor
        also extracts facts and episode summaries, the Judge checks them against
        memory and the Refresher resolves contradictions. Sessions are ingested
        in time order, so a later session can supersede an earlier one's facts.
        Idempotent: re-adding the same input writes nothing new.
        """
        docs = documents_from(data, source_id=source_id, max_chars=self.settings.max_input_chars)
        return self.add_items(to_raw_items(docs, namespace), namespace=namespace, derive=derive, thread_id=thread_id)

    def add_items(
        self,
        items: Sequence[MemoryItem],
        *,
        namespace: str,
        derive: bool = True,
        thread_id: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> IngestReport:
        """Ingest raw items built elsewhere (e.g. ``agentrag.memory.loaders``) through the ingest graph.

        One graph run per session, in time order; ``on_progress(done, total)`` is
        called after each with counts of raw items.
        """
        foreign = {i.namespace for i in items} - {namespace}
        if foreign:
            raise InputError(f"items belong to namespaces {sorted(foreign)}, not {namespace!r}")
        if any(i.level != "raw" for i in items):
            raise InputError("add_items takes raw items; facts and episodes are derived by the Constructor")
        tracker = UsageTracker()
        report = IngestReport(raw=len(items))
        graph = self._graph("ingest")
        done = 0
        for n, group in enumerate(_by_session(items)):
            tid = f"{thread_id}:{n}" if thread_id else uuid.uuid4().hex
            out = graph.invoke(
                {"namespace": namespace, "items": group, "derive": derive},
                self._run_config(tid, tracker),
                context=self.deps,
            )
            report = report.merge(out)
            done += len(group)
            if on_progress:
                on_progress(done, len(items))
        return report.model_copy(update={"usage": tracker.total})

    def search(
        self, query: str, *, namespace: str, k: int | None = None, filters: SearchFilters | None = None
    ) -> list[Hit]:
        """Hybrid search over currently valid memory."""
        return self.memory.search(
            namespace, check_question(query), k=k or self.settings.retrieval.top_k, filters=filters
        )

    def history(self, item_id: str, *, namespace: str) -> list[HistoryEntry]:
        """Every recorded change to one memory item."""
        return self.memory.history(namespace, item_id)

    def explain(self, item_id: str, *, namespace: str) -> Explanation:
        """Where an item came from and what replaced it."""
        return self.memory.explain(namespace, item_id)

    def forget(self, ids: Sequence[str], *, namespace: str, reason: str = "forget requested") -> int:
        """Hard-delete items (recorded in history); the only way memory loses data."""
        return self.memory.forget(namespace, ids, reason=reason, actor="api")

    # -- answering ----------------------------------------------------------------
    def _run_config(self, thread_id: str, tracker: UsageTracker) -> RunnableConfig:
        return {
            "configurable": {"thread_id": thread_id},
            "callbacks": [tracker],
            "recursion_limit": 25 + 8 * self.settings.max_rounds,
        }

    def ask(self, question: str, *, namespace: str, thread_id: str | None = None) -> Answer:
        """Answer a question from memory, with citations, or abstain."""
        q = check_question(question)
        tid = thread_id or uuid.uuid4().hex
        tracker = UsageTracker()
        out = self._graph("answer").invoke(
            {"question": q, "namespace": namespace}, self._run_config(tid, tracker), context=self.deps
        )
        return _answer(q, out, tracker, tid)

    def chat(
        self,
        message: str,
        *,
        namespace: str,
        session_id: str | None = None,
        thread_id: str | None = None,
        speaker: str = "user",
    ) -> Answer:
        """One chat turn: answer from memory as it was, then remember what the user said."""
        q = check_question(message)
        tid = thread_id or uuid.uuid4().hex
        tracker = UsageTracker()
        state = {"question": q, "namespace": namespace, "session_id": session_id or tid, "speaker": speaker}
        out = self._graph("chat").invoke(state, self._run_config(tid, tracker), context=self.deps)
        return _answer(q, out, tracker, tid)

    def resume(self, thread_id: str) -> Answer:
        """Finish an interrupted run from its last checkpoint."""
        graph = self._graph("answer")
        tracker = UsageTracker()
        cfg = self._run_config(thread_id, tracker)
        snapshot = graph.get_state(cfg)
        if not snapshot.values:
            raise InputError(f"no checkpointed run with thread id {thread_id!r}")
        out = graph.invoke(None, cfg, context=self.deps) if snapshot.next else snapshot.values
        return _answer(snapshot.values["question"], out, tracker, thread_id)

    def stream(self, question: str, *, namespace: str, thread_id: str | None = None) -> Iterator[StreamEvent]:
        """Run the answer graph, yielding node updates, answer tokens, then the final ``Answer``."""
        q = check_question(question)
        tid = thread_id or uuid.uuid4().hex
        tracker = UsageTracker()
        graph = self._graph("answer")
        cfg = self._run_config(tid, tracker)
        text = AnswerTextStream()
        for mode, payload in graph.stream(
            {"question": q, "namespace": namespace}, cfg, context=self.deps, stream_mode=["updates", "messages"]
        ):
            yield from _events(mode, payload, text)
        final = graph.get_state(cfg).values
        yield StreamEvent(kind="answer", data=_answer(q, final, tracker, tid))

    async def aask(self, question: str, *, namespace: str, thread_id: str | None = None) -> Answer:
        """Async ``ask``: many can be in flight so a vLLM server batches them."""
        q = check_question(question)
        tid = thread_id or uuid.uuid4().hex
        tracker = UsageTracker()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        async with async_sqlite_saver(self.checkpoint_path) as saver:
            out = await _build("answer", saver).ainvoke(
                {"question": q, "namespace": namespace}, self._run_config(tid, tracker), context=self.deps
            )
        return _answer(q, out, tracker, tid)

    async def astream(
        self, question: str, *, namespace: str, thread_id: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Async ``stream``."""
        q = check_question(question)
        tid = thread_id or uuid.uuid4().hex
        tracker = UsageTracker()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        text = AnswerTextStream()
        async with async_sqlite_saver(self.checkpoint_path) as saver:
            graph = _build("answer", saver)
            cfg = self._run_config(tid, tracker)
            async for mode, payload in graph.astream(
                {"question": q, "namespace": namespace}, cfg, context=self.deps, stream_mode=["updates", "messages"]
            ):
                for event in _events(mode, payload, text):
                    yield event
            final = (await graph.aget_state(cfg)).values
        yield StreamEvent(kind="answer", data=_answer(q, final, tracker, tid))

    def close(self) -> None:
        """Release the model, the store and the checkpoint database."""
        if self._llm is not None and hasattr(self._llm, "close"):
            self._llm.close()
        if self._memory is not None:
            self._memory.close()
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
            self._checkpoint_conn = None
        self._graphs.clear()

    def __enter__(self) -> AgentRAG:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _events(mode: str, payload: Any, text: AnswerTextStream) -> Iterator[StreamEvent]:
    """Translate one LangGraph stream item: node updates as they are, answer tokens as answer text."""
    if mode == "messages":
        chunk, meta = payload
        if meta.get("langgraph_node") == "answer" and isinstance(chunk.content, str):
            new = text.feed(chunk.content)
            if new:
                yield StreamEvent(kind="token", node="answer", text=new)
    else:
        for node, update in payload.items():
            yield StreamEvent(kind="node", node=node, data=update)


class IngestReport(BaseModel):
    """What an ``add`` did, summed over sessions."""

    model_config = ConfigDict(frozen=True)

    raw: int = 0
    written: int = 0
    facts: int = 0
    episodes: int = 0
    duplicates: int = 0
    conflicts: int = 0
    superseded: tuple[str, ...] = ()
    usage: TokenUsage = TokenUsage()
    extraction: dict[str, float] = Field(default_factory=dict)
    """Fact-extraction counts summed over sessions (see ``agents.quality``)."""

    def merge(self, out: dict[str, Any]) -> IngestReport:
        """Add one ingest-graph run's output."""
        return self.model_copy(
            update={
                "written": self.written + len(out.get("written", [])),
                "facts": self.facts + len(out.get("facts", [])),
                "episodes": self.episodes + len(out.get("episodes", [])),
                "duplicates": self.duplicates + len(out.get("duplicates", [])),
                "conflicts": self.conflicts + len(out.get("conflicts", [])),
                "superseded": self.superseded + tuple(out.get("superseded", [])),
                "extraction": {
                    k: self.extraction.get(k, 0.0) + out.get("extraction", {}).get(k, 0.0)
                    for k in {*self.extraction, *out.get("extraction", {})}
                },
            }
        )


def _by_session(items: Sequence[MemoryItem]) -> list[list[MemoryItem]]:
    """Group raw items by session, sessions in time order (items without a session form one group)."""
    groups: dict[str, list[MemoryItem]] = {}
    for item in items:
        groups.setdefault(item.session_id or "", []).append(item)
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(groups.values(), key=lambda g: min((i.event_time or far) for i in g))


GRAPHS = ("answer", "ingest", "chat")


def _build(name: str, checkpointer: Any) -> Any:
    match name:
        case "answer":
            from agentrag.graphs import answer

            return answer.build(checkpointer)
        case "ingest":
            from agentrag.graphs import ingest

            return ingest.build(checkpointer)
        case "chat":
            from agentrag.graphs import chat

            return chat.build(checkpointer)
        case _:
            raise InputError(f"unknown graph {name!r}; valid: {', '.join(GRAPHS)}")


def _answer(question: str, out: dict[str, Any], tracker: UsageTracker, thread_id: str) -> Answer:
    return Answer(
        question=question,
        text=out.get("answer", ""),
        abstained=bool(out.get("abstained", False)),
        citations=tuple(out.get("citations", ())),
        evidence=tuple(out.get("evidence", ())),
        note=out.get("note"),
        route=out.get("route"),
        rounds=int(out.get("round", 0)),
        usage=tracker.total,
        usage_by_node=dict(tracker.by_node),
        thread_id=thread_id,
    )


__all__ = ["AgentRAG", "Answer", "IngestReport", "TokenUsage"]
