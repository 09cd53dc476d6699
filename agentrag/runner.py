"""One graph runner: compiled graphs, the checkpointer, and the run config, for every entry point.

The Python API, the CLI (through the API), the server and the eval harness run
graphs through this class, so the scoping rules below hold everywhere:

* **A thread belongs to (tenant, namespace).** The checkpoint thread is named
  ``<namespace>/<thread id>#<run id>`` (a namespace cannot contain ``/``): the same
  thread id in another namespace is another thread, and nothing of one tenant's
  run is ever loaded into another's.
* **A new question starts a fresh run.** Every run gets its own run id and its own
  checkpoint thread, so no per-run channel (evidence, notes, verdict, the merged
  hits...) survives into the next question on the same thread id. The runs of a
  thread are found through checkpoint metadata (``agentrag_thread``), newest first,
  which is what ``resume`` uses, and only inside the caller's namespace.
* **Run config**: run id in the metadata (also set in ``agentrag.runctx`` so ledger entries carry it),
  tenant/namespace/thread metadata on every checkpoint, callbacks, recursion limit.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

from agentrag.checkpoints import open_checkpointer
from agentrag.errors import InputError
from agentrag.faults import translating
from agentrag.memory.namespaces import validate_namespace
from agentrag.runctx import current_run_id
from agentrag.settings import Settings
from agentrag.tracing.scope import RunScope as TraceScope
from agentrag.tracing.scope import run_metadata

if TYPE_CHECKING:
    from agentrag.tracing.observe import Observability

GRAPHS = ("answer", "ingest", "chat")
MAX_THREAD_ID_CHARS = 200


def check_thread_id(thread_id: object) -> str:
    """Refuse thread ids that are empty, huge or carry control characters."""
    if not isinstance(thread_id, str) or not thread_id.strip():
        raise InputError("thread id must be a non-empty string")
    if len(thread_id) > MAX_THREAD_ID_CHARS:
        raise InputError(f"thread id is {len(thread_id)} characters; the limit is {MAX_THREAD_ID_CHARS}")
    if any(ord(ch) < 32 for ch in thread_id):
        raise InputError("thread id contains control characters")
    return thread_id


@dataclass(frozen=True)
class RunScope:
    """Who a run belongs to and which run it is."""

    namespace: str
    thread_id: str
    run_id: str
    tenant: str | None = None

    @property
    def thread_key(self) -> str:
        """The thread across its runs: ``<namespace>/<thread id>``."""
        return f"{self.namespace}/{self.thread_id}"

    @property
    def checkpoint_thread(self) -> str:
        """LangGraph's thread id for this run."""
        return f"{self.thread_key}#{self.run_id}"


def build_graph(name: str, checkpointer: BaseCheckpointSaver[Any] | None) -> Any:
    """Compile one of the graphs in ``graphs/`` with ``checkpointer``."""
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


class GraphRunner:
    """Graphs compiled once per process on the state store's checkpointer; see the module docstring."""

    def __init__(self, settings: Settings, *, tenant: str | None = None, observe: Observability | None = None) -> None:
        self.settings = settings
        self.tenant = tenant
        self.observe = observe
        self._saver: BaseCheckpointSaver[Any] | None = None
        self._close_saver: Callable[[], None] | None = None
        self._graphs: dict[str, Any] = {}
        self._lock = threading.RLock()  # the first requests of a server may arrive together

    @property
    def checkpointer(self) -> BaseCheckpointSaver[Any]:
        """The process's checkpointer, for sync and async runs (opened once, on first use)."""
        with self._lock:
            if self._saver is None:
                self._saver, self._close_saver = open_checkpointer(self.settings)
            return self._saver

    def graph(self, name: str) -> Any:
        """The compiled graph ``name``: compiled once, then shared by every request (sync or async)."""
        found = self._graphs.get(name)
        if found is None:
            saver = self.checkpointer
            with self._lock:
                found = self._graphs.get(name)
                if found is None:
                    found = self._graphs[name] = build_graph(name, saver)
        return found

    def scope(self, namespace: str, thread_id: str | None = None, run_id: str | None = None) -> RunScope:
        """A new run's scope (a fresh thread id when none is given)."""
        return RunScope(
            namespace=validate_namespace(namespace),
            thread_id=check_thread_id(thread_id) if thread_id is not None else uuid.uuid4().hex,
            run_id=run_id or uuid.uuid4().hex,
            tenant=self.tenant,
        )

    def config(self, scope: RunScope, graph: str, callbacks: list[BaseCallbackHandler] | None = None) -> RunnableConfig:
        """The run config: checkpoint thread, run id, tenant metadata, callbacks and the round cap.

        The run id is also LangChain's root ``run_id``, so trace spans and the run record
        carry the same id as the ledger entries; the tracing metadata keys (``graph``,
        ``namespace``, ``thread_id``) are what run pages and ``agentrag trace list`` read.
        """
        traced = self._trace_scope(scope, graph)
        extra = list(self.observe.callbacks(traced)) if self.observe is not None else []
        return {
            "configurable": {"thread_id": scope.checkpoint_thread},
            "run_name": graph,
            "run_id": uuid.UUID(scope.run_id),
            "metadata": {
                **run_metadata(traced),
                "agentrag_graph": graph,
                "agentrag_namespace": scope.namespace,
                "agentrag_thread": scope.thread_key,
                "agentrag_run_id": scope.run_id,
                "agentrag_tenant": scope.tenant or "",
            },
            "callbacks": [*(callbacks or []), *extra],
            "recursion_limit": 25 + 8 * self.settings.max_rounds,
        }

    @staticmethod
    def _trace_scope(scope: RunScope, graph: str) -> TraceScope:
        """The tracing view of a run: its checkpoint thread is the thread pages and run records key on."""
        return TraceScope(
            graph=graph,
            thread_id=scope.checkpoint_thread,
            namespace=scope.namespace,
            tenant=scope.tenant,
            run_id=scope.run_id,
        )

    @contextmanager
    def running(self, scope: RunScope) -> Iterator[None]:
        """Mark the current context as inside ``scope``'s run (ledger entries record its id)."""
        token = current_run_id.set(scope.run_id)
        try:
            with translating("checkpoints or memory"):  # a store down mid-run is a typed error, not a traceback
                yield
        finally:
            current_run_id.reset(token)

    def invoke(self, graph: str, values: Any, scope: RunScope, context: Any, callbacks: list[Any]) -> Any:
        """Run ``graph`` to the end (``values=None`` continues from the last checkpoint)."""
        with self.running(scope):
            return self.graph(graph).invoke(values, self.config(scope, graph, callbacks), context=context)

    def stream(
        self, graph: str, values: Any, scope: RunScope, context: Any, callbacks: list[Any], modes: list[str]
    ) -> Iterator[Any]:
        """Stream ``graph``'s updates in ``modes``."""
        with self.running(scope):
            yield from self.graph(graph).stream(
                values, self.config(scope, graph, callbacks), context=context, stream_mode=modes
            )

    def final_state(self, graph: str, scope: RunScope) -> dict[str, Any]:
        """The values of a run's last checkpoint."""
        with translating("checkpoints"):
            values: dict[str, Any] = self.graph(graph).get_state(self.config(scope, graph)).values
        return values

    async def ainvoke(self, graph: str, values: Any, scope: RunScope, context: Any, callbacks: list[Any]) -> Any:
        """Async ``invoke`` on the same compiled graph and checkpointer (nothing is opened per call)."""
        with self.running(scope):
            return await self.graph(graph).ainvoke(values, self.config(scope, graph, callbacks), context=context)

    async def astream(
        self, graph: str, values: Any, scope: RunScope, context: Any, callbacks: list[Any], modes: list[str]
    ) -> AsyncIterator[Any]:
        """Async ``stream`` on the same compiled graph and checkpointer."""
        with self.running(scope):
            async for item in self.graph(graph).astream(
                values, self.config(scope, graph, callbacks), context=context, stream_mode=modes
            ):
                yield item

    async def afinal_state(self, graph: str, scope: RunScope) -> dict[str, Any]:
        """Async ``final_state``."""
        snapshot = await self.graph(graph).aget_state(self.config(scope, graph))
        values: dict[str, Any] = snapshot.values
        return values

    @asynccontextmanager
    async def async_graph(self, graph: str) -> AsyncIterator[Any]:
        """The process's compiled ``graph`` (kept for callers of the per-call form: it opens nothing now)."""
        yield self.graph(graph)

    def latest_run(self, graph: str, namespace: str, thread_id: str) -> RunScope | None:
        """The newest run of ``graph`` on a thread of ``namespace`` with a checkpoint, or None."""
        key = RunScope(validate_namespace(namespace), check_thread_id(thread_id), "-").thread_key
        with translating("checkpoints"):
            wanted = {"agentrag_thread": key, "agentrag_graph": graph}
            found = list(self.checkpointer.list(None, filter=wanted, limit=1))
        if not found:
            return None
        md: dict[str, Any] = dict(found[0].metadata or {})
        if md.get("agentrag_namespace") != namespace:  # defence in depth: the key already scopes it
            return None
        return RunScope(namespace, thread_id, str(md["agentrag_run_id"]), str(md.get("agentrag_tenant") or "") or None)

    def close(self) -> None:
        """Close the checkpointer."""
        if self._close_saver is not None:
            self._close_saver()
        self._saver = self._close_saver = None
        self._graphs.clear()
