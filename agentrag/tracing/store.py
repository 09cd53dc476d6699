"""``TracedStore``: the one wrapping of the memory store that gives searches and writes their spans.

A decorator over any :class:`~agentrag.memory.store.MemoryStore`: reads that are not
searches pass straight through; each search becomes a RETRIEVER span (level, mode, k,
hits and the documents with their scores) and each write (add, supersede, invalidate,
forget) a CHAIN span. The parent is the span of the graph node making the call, found
through LangChain's current run config, so no node has to know tracing exists.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langchain_core.runnables.config import var_child_runnable_config
from openinference.semconv.trace import DocumentAttributes, OpenInferenceSpanKindValues, SpanAttributes
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode

from agentrag.memory.store import AddResult, Explanation, HistoryEntry, MemoryStore, SearchFilters, SearchMode
from agentrag.runctx import current_run_id
from agentrag.tracing.handler import MAX_VALUE_CHARS, OTelCallbackHandler
from agentrag.tracing.setup import TraceSink
from agentrag.types import Hit, Level, MemoryItem

KIND = SpanAttributes.OPENINFERENCE_SPAN_KIND
MAX_DOCUMENTS = 20


def _run_handler() -> tuple[OTelCallbackHandler | None, Any]:
    """The tracing handler of the graph run in progress and the current LangChain run id, if any."""
    config = var_child_runnable_config.get()
    manager = (config or {}).get("callbacks")
    for handler in getattr(manager, "handlers", None) or ():
        if isinstance(handler, OTelCallbackHandler):
            return handler, getattr(manager, "parent_run_id", None)
    return None, None


class TracedStore:
    """Spans around memory searches and writes; everything else is delegated unchanged."""

    def __init__(self, inner: MemoryStore, sink: TraceSink) -> None:
        self.inner = inner
        self.sink = sink

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # store-specific extras (stats, ...) stay reachable

    @contextmanager
    def _span(self, name: str, namespace: str, attrs: dict[str, Any]) -> Iterator[Span]:
        handler, parent_run = _run_handler()
        context: Context | None = handler.context_for(parent_run) if handler else None
        common = dict(handler.scope.attributes()) if handler else {}
        common.setdefault("agentrag.namespace", namespace)
        common.setdefault("agentrag.tenant", namespace)
        run_id = current_run_id.get()
        if run_id:
            common["agentrag.run_id"] = run_id
        span = self.sink.tracer.start_span(name, context=context, attributes={**common, **attrs})
        started = time.perf_counter()
        try:
            yield span
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        else:
            span.set_status(Status(StatusCode.OK))
        finally:
            span.set_attribute("agentrag.latency_ms", round((time.perf_counter() - started) * 1000, 3))
            span.end()

    def _write(self, op: str, namespace: str, attrs: dict[str, Any]) -> Any:
        return self._span(f"memory.{op}", namespace, {KIND: OpenInferenceSpanKindValues.CHAIN.value,
                                                       "agentrag.memory.op": op, **attrs})

    # -- traced ---------------------------------------------------------------------------
    def search(
        self, namespace: str, query: str, *, k: int = 5, filters: SearchFilters | None = None,
        mode: SearchMode = "hybrid",
    ) -> builtins.list[Hit]:
        """Search, as a RETRIEVER span with the hits as OpenInference documents."""
        levels = (filters or SearchFilters()).levels
        attrs: dict[str, Any] = {
            KIND: OpenInferenceSpanKindValues.RETRIEVER.value,
            "agentrag.memory.level": ",".join(levels),
            "agentrag.memory.mode": mode,
            "agentrag.memory.k": k,
        }
        if self.sink.capture_content:
            attrs[SpanAttributes.INPUT_VALUE] = query
        with self._span("memory.search", namespace, attrs) as span:
            hits = self.inner.search(namespace, query, k=k, filters=filters, mode=mode)
            span.set_attribute("agentrag.memory.hits", len(hits))
            for i, hit in enumerate(hits[:MAX_DOCUMENTS]):
                prefix = f"{SpanAttributes.RETRIEVAL_DOCUMENTS}.{i}."
                span.set_attribute(prefix + DocumentAttributes.DOCUMENT_ID, hit.item.id)
                span.set_attribute(prefix + DocumentAttributes.DOCUMENT_SCORE, float(hit.score))
                span.set_attribute(prefix + DocumentAttributes.DOCUMENT_METADATA, f'{{"level": "{hit.item.level}"}}')
                if self.sink.capture_content:
                    span.set_attribute(prefix + DocumentAttributes.DOCUMENT_CONTENT, hit.item.text[:MAX_VALUE_CHARS])
            return hits

    def add(self, namespace: str, items: Sequence[MemoryItem], *, actor: str = "system") -> AddResult:
        """Add, as a write span with the counts."""
        levels = sorted({i.level for i in items})
        with self._write("add", namespace, {"agentrag.memory.level": ",".join(levels),
                                            "agentrag.memory.items": len(items), "agentrag.actor": actor}) as span:
            result = self.inner.add(namespace, items, actor=actor)
            span.set_attributes({"agentrag.memory.added": len(result.added),
                                 "agentrag.memory.updated": len(result.updated),
                                 "agentrag.memory.unchanged": len(result.unchanged)})
            return result

    def supersede(
        self, namespace: str, old_id: str, new_item: MemoryItem, *, reason: str, actor: str = "refresher"
    ) -> MemoryItem:
        """Supersede, as a write span naming both items."""
        attrs = {"agentrag.memory.level": new_item.level, "agentrag.memory.old_id": old_id,
                 "agentrag.memory.new_id": new_item.id, "agentrag.actor": actor}
        with self._write("supersede", namespace, attrs):
            return self.inner.supersede(namespace, old_id, new_item, reason=reason, actor=actor)

    def invalidate(self, namespace: str, item_id: str, *, reason: str, actor: str = "system") -> MemoryItem:
        """Invalidate, as a write span."""
        with self._write("invalidate", namespace, {"agentrag.memory.old_id": item_id, "agentrag.actor": actor}):
            return self.inner.invalidate(namespace, item_id, reason=reason, actor=actor)

    def forget(self, namespace: str, ids: Sequence[str], *, reason: str, actor: str = "user") -> int:
        """Forget, as a write span with the count."""
        with self._write("forget", namespace, {"agentrag.memory.items": len(ids), "agentrag.actor": actor}):
            return self.inner.forget(namespace, ids, reason=reason, actor=actor)

    # -- plain delegation -----------------------------------------------------------------
    def get(self, namespace: str, ids: Sequence[str]) -> builtins.list[MemoryItem]:
        """Delegated."""
        return self.inner.get(namespace, ids)

    def list(
        self, namespace: str, level: Level | None = None, *, limit: int = 100, offset: int = 0,
        include_invalid: bool = False,
    ) -> builtins.list[MemoryItem]:
        """Delegated."""
        return self.inner.list(namespace, level, limit=limit, offset=offset, include_invalid=include_invalid)

    def count(self, namespace: str, level: Level | None = None, *, include_invalid: bool = False) -> int:
        """Delegated."""
        return self.inner.count(namespace, level, include_invalid=include_invalid)

    def history(self, namespace: str, item_id: str) -> builtins.list[HistoryEntry]:
        """Delegated."""
        return self.inner.history(namespace, item_id)

    def explain(self, namespace: str, item_id: str) -> Explanation:
        """Delegated."""
        return self.inner.explain(namespace, item_id)

    def close(self) -> None:
        """Delegated."""
        self.inner.close()
