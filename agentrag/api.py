"""``AgentRAG``: the Python facade app builders use.

One object holds the settings and the backends (created lazily, so constructing
it is cheap) and runs the graphs in ``graphs/`` with them. Every call is scoped
by ``namespace``; the memory store enforces it again on its side.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field

from agentrag.checkpoints import checkpoint_path
from agentrag.deps import Deps
from agentrag.derivation import DeriveMode
from agentrag.errors import InputError
from agentrag.ingest import Document, check_raw_items, documents_from, to_raw_items
from agentrag.ledger.queue_base import JobQueue
from agentrag.llm.usage import UsageTracker
from agentrag.memory.embedder import Embedder
from agentrag.memory.inputs import check_text
from agentrag.memory.namespaces import validate_namespace
from agentrag.memory.store import Explanation, HistoryEntry, MemoryStore, SearchFilters
from agentrag.prompts import PromptLibrary, default_library
from agentrag.runner import GRAPHS, GraphRunner, RunScope, build_graph
from agentrag.settings import Settings, load_settings
from agentrag.streaming import AnswerTextStream, StreamEvent
from agentrag.tracing.observe import Observability
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
    return check_text(q, what="question", max_chars=MAX_QUESTION_CHARS)  # control characters, lone surrogates


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
        self.observe = Observability(self.settings, self.prompts)
        self.runner = GraphRunner(self.settings, observe=self.observe)
        self._queue: JobQueue | None = None
        self._opening = threading.RLock()  # backends open once, even when the first requests arrive together
        self.closed = False  # set by close(): derivation workers still running then stop instead of erroring

    # -- backends -----------------------------------------------------------------
    @property
    def llm(self) -> BaseChatModel:
        """The generator (built from settings on first use)."""
        if self._llm is None:
            from agentrag.llm.factory import make_llm

            with self._opening:
                if self._llm is None:
                    self._llm = make_llm(self.settings.llm)
        return self._llm

    @property
    def memory(self) -> MemoryStore:
        """The memory store (opened from settings on first use)."""
        if self._memory is None:
            from agentrag.memory import open_store

            with self._opening:  # concurrent first requests must open one store, not race Chroma's client cache
                if self._memory is None:
                    self._memory = open_store(self.settings, self._embedder)
        return self._memory

    @property
    def deps(self) -> Deps:
        """The run context handed to graph nodes."""
        memory = self.observe.wrap(self.memory)  # the store itself when tracing is off
        return Deps(llm=self.llm, memory=memory, settings=self.settings, prompts=self.prompts)

    @property
    def queue(self) -> JobQueue:
        """The derivation queue in the state store (opened on first use; see ``agentrag.derivation``)."""
        if self._queue is None:
            from agentrag.ledger import open_queue

            with self._opening:
                if self._queue is None:
                    self._queue = open_queue(self.settings)
        return self._queue

    @property
    def checkpoint_path(self) -> Path:
        """SQLite file holding graph checkpoints with the default state store (``state.kind: sqlite``)."""
        return checkpoint_path(self.settings)

    def _graph(self, name: str) -> Any:
        return self.runner.graph(name)

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
        validate_namespace(namespace)
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
        check_raw_items(items, self.settings.memory.max_item_chars)
        tracker = UsageTracker()
        report = IngestReport(raw=len(items))
        done = 0
        for n, group in enumerate(_by_session(items)):
            scope = self.runner.scope(namespace, f"{thread_id}:{n}" if thread_id else None)
            values = {"namespace": namespace, "items": group, "derive": derive}
            out = self.runner.invoke("ingest", values, scope, self.deps, [tracker])
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

    def forget(
        self, ids: Sequence[str] = (), *, namespace: str, reason: str = "forget requested", everything: bool = False
    ) -> int:
        """Hard-delete items, what was derived from them and the runs that quoted them; return items deleted.

        ``everything=True`` erases the whole namespace (one end user). The history
        keeps a tombstone per item without its text; see ``agentrag.forgetting``.
        """
        from agentrag.forgetting import forget

        if isinstance(ids, str):
            raise InputError("forget() takes a sequence of ids, not one string")
        if everything and ids:
            raise InputError("give item ids to forget, or everything=True for the whole namespace, not both")
        report = forget(
            self.settings, self.memory, self.runner.checkpointer, namespace, None if everything else list(ids),
            reason=reason, actor="api",
        )
        return report.items

    # -- answering ----------------------------------------------------------------
    # Every call below is one fresh run (see ``agentrag.runner``): the thread id groups
    # runs inside one namespace and never carries state from one question to the next.

    def ask(self, question: str, *, namespace: str, thread_id: str | None = None) -> Answer:
        """Answer a question from memory, with citations, or abstain."""
        q = check_question(question)
        scope, tracker = self.runner.scope(namespace, thread_id), UsageTracker()
        out = self.runner.invoke("answer", {"question": q, "namespace": scope.namespace}, scope, self.deps, [tracker])
        return _answer(q, out, tracker, scope.thread_id, scope.run_id)

    def chat(
        self,
        message: str,
        *,
        namespace: str,
        session_id: str | None = None,
        thread_id: str | None = None,
        speaker: str = "user",
        derive: DeriveMode = "inline",
    ) -> Answer:
        """One chat turn: answer from memory as it was, then remember what the user said.

        ``derive="inline"`` (the default) extracts facts and episodes before
        returning. ``"background"`` (what the server uses) writes the raw turn and
        queues its derivation in the state store before returning, so the reply
        does not wait for it and the next turn already finds the raw turn; workers
        (``agentrag worker``, or ``agentrag serve``'s threads) derive it later.
        """
        from agentrag.derivation import check_mode, enqueue_items

        q, mode = check_question(message), check_mode(derive)
        scope, tracker = self.runner.scope(namespace, thread_id), UsageTracker()
        state = {
            "question": q,
            "namespace": scope.namespace,
            "session_id": session_id or scope.thread_id,
            "speaker": speaker,
            "derive": mode == "inline",
        }
        out = self.runner.invoke("chat", state, scope, self.deps, [tracker])
        if mode == "background":
            enqueue_items(self, scope.namespace, out.get("items", []))
        return _answer(q, out, tracker, scope.thread_id, scope.run_id)

    def resume(self, thread_id: str, *, namespace: str) -> Answer:
        """Finish the thread's latest interrupted answer run from its last checkpoint.

        Only runs of ``namespace`` are looked at: another tenant's thread with the
        same id is not found, let alone resumed.
        """
        scope = self.runner.latest_run("answer", namespace, thread_id)
        if scope is None:
            raise InputError(f"no checkpointed run with thread id {thread_id!r} in namespace {namespace!r}")
        snapshot = self.runner.graph("answer").get_state(self.runner.config(scope, "answer"))
        # A run killed before its first step has only its input checkpoint: no values yet, but the metadata.
        owner = snapshot.values.get("namespace") or (snapshot.metadata or {}).get("agentrag_namespace")
        if owner != scope.namespace:
            raise InputError(f"thread {thread_id!r} does not belong to namespace {namespace!r}")
        tracker = UsageTracker()
        # ``next`` leaves out a task whose writes were saved before the kill (its next checkpoint was not):
        # such a run is unfinished too, and resuming applies those writes instead of running the node again.
        unfinished = bool(snapshot.next) or bool(snapshot.tasks)
        out = self.runner.invoke("answer", None, scope, self.deps, [tracker]) if unfinished else snapshot.values
        question = snapshot.values.get("question") or self.runner.final_state("answer", scope).get("question", "")
        return _answer(question, out, tracker, thread_id)

    def last_state(self, thread_id: str, *, namespace: str, graph: str = "answer") -> dict[str, Any]:
        """The state of the thread's latest run of ``graph`` (for inspection), or an error if there is none."""
        scope = self.runner.latest_run(graph, namespace, thread_id)
        if scope is None:
            raise InputError(f"no checkpointed {graph} run with thread id {thread_id!r} in namespace {namespace!r}")
        return self.runner.final_state(graph, scope)

    def stream(self, question: str, *, namespace: str, thread_id: str | None = None) -> Iterator[StreamEvent]:
        """Run the answer graph, yielding node updates, answer tokens, then the final ``Answer``."""
        q = check_question(question)
        scope, tracker = self.runner.scope(namespace, thread_id), UsageTracker()
        text = AnswerTextStream()
        values = {"question": q, "namespace": scope.namespace}
        for mode, payload in self.runner.stream("answer", values, scope, self.deps, [tracker], _MODES):
            yield from _events(mode, payload, text)
        final = self.runner.final_state("answer", scope)
        yield StreamEvent(kind="answer", data=_answer(q, final, tracker, scope.thread_id, scope.run_id))

    async def aask(self, question: str, *, namespace: str, thread_id: str | None = None) -> Answer:
        """Async ``ask``: many can be in flight so a vLLM server batches them."""
        q = check_question(question)
        scope, tracker = self.runner.scope(namespace, thread_id), UsageTracker()
        values = {"question": q, "namespace": scope.namespace}
        out = await self.runner.ainvoke("answer", values, scope, self.deps, [tracker])
        return _answer(q, out, tracker, scope.thread_id, scope.run_id)

    async def astream(
        self, question: str, *, namespace: str, thread_id: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Async ``stream``."""
        q = check_question(question)
        scope, tracker = self.runner.scope(namespace, thread_id), UsageTracker()
        text = AnswerTextStream()
        values = {"question": q, "namespace": scope.namespace}
        async for mode, payload in self.runner.astream("answer", values, scope, self.deps, [tracker], _MODES):
            for event in _events(mode, payload, text):
                yield event
        final = await self.runner.afinal_state("answer", scope)
        yield StreamEvent(kind="answer", data=_answer(q, final, tracker, scope.thread_id, scope.run_id))

    def close(self) -> None:
        """Release the model, the store and the checkpoint database."""
        self.closed = True
        if self._llm is not None and hasattr(self._llm, "close"):
            self._llm.close()
        if self._memory is not None:
            self._memory.close()
        if self._queue is not None:
            self._queue.close()
        self.observe.close()
        self.runner.close()

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


_MODES = ["updates", "messages"]


def _build(name: str, checkpointer: Any) -> Any:
    """Kept for callers of the old private helper; see ``agentrag.runner.build_graph``."""
    return build_graph(name, checkpointer)


def _answer(
    question: str, out: dict[str, Any], tracker: UsageTracker, thread_id: str, run_id: str | None = None
) -> Answer:
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
        run_id=run_id,
    )


__all__ = ["GRAPHS", "AgentRAG", "Answer", "IngestReport", "RunScope", "TokenUsage"]
