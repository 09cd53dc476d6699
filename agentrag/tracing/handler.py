"""A LangChain callback handler that turns one graph run into OpenTelemetry spans.

Span tree (OpenInference kinds in brackets): the graph run [AGENT] > one span per node
visit [CHAIN] > each LLM call [LLM] and each memory search [RETRIEVER] / write [CHAIN]
made by the node (the memory spans come from :class:`agentrag.tracing.store.TracedStore`,
which asks this handler for the node's span). LangGraph's own plumbing runs (routers,
channel writes) get no span; calls made inside them attach to the nearest traced
ancestor, so the tree stays intact.

Imported only when tracing is on: it imports the OpenTelemetry API at module level.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult
from openinference.semconv.trace import MessageAttributes, OpenInferenceSpanKindValues, SpanAttributes
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode

from agentrag.tracing.calls import Reply, is_node_run, model_of, within
from agentrag.tracing.scope import RunScope
from agentrag.tracing.setup import TraceSink

MAX_VALUE_CHARS = 4000
"""Longer input/output values are cut: spans are for finding things, the checkpoints keep it all."""

KIND = SpanAttributes.OPENINFERENCE_SPAN_KIND


def to_json(value: Any) -> str:
    """A compact JSON rendering of state values (pydantic models included), cut to a bounded size."""

    def default(o: Any) -> Any:
        dump = getattr(o, "model_dump", None)
        return dump(mode="json") if callable(dump) else str(o)

    text = json.dumps(value, default=default, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def _content(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else str(message.content)


class OTelCallbackHandler(BaseCallbackHandler):
    """Spans for the graph run, its nodes and its LLM calls; one handler per run. Thread-safe."""

    def __init__(
        self, sink: TraceSink, scope: RunScope, prompt_version: Callable[[str], int | None] | None = None
    ) -> None:
        self.sink = sink
        self.scope = scope
        self._version = prompt_version or (lambda _id: None)
        self._lock = threading.Lock()
        self._spans: dict[UUID, Span] = {}
        self._started: dict[UUID, float] = {}
        self._parent: dict[UUID, UUID | None] = {}
        self._common = scope.attributes()

    # -- lookups ------------------------------------------------------------------------
    def span_for(self, run_id: UUID | None) -> Span | None:
        """The span of ``run_id`` or of its nearest traced ancestor (None outside this run)."""
        with self._lock:
            while run_id is not None:
                span = self._spans.get(run_id)
                if span is not None:
                    return span
                run_id = self._parent.get(run_id)
        return None

    def context_for(self, run_id: UUID | None) -> Context | None:
        """An OTel context whose current span is the one :meth:`span_for` finds."""
        span = self.span_for(run_id)
        return trace.set_span_in_context(span) if span is not None else None

    def _open(
        self, run_id: UUID, parent_run_id: UUID | None, name: str, attrs: dict[str, Any]
    ) -> Span:
        parent = self.context_for(parent_run_id)
        span = self.sink.tracer.start_span(name, context=parent, attributes={**self._common, **attrs})
        with self._lock:
            self._spans[run_id] = span
            self._parent[run_id] = parent_run_id
            self._started[run_id] = time.perf_counter()
        return span

    def _close(self, run_id: UUID, attrs: dict[str, Any], error: BaseException | None = None) -> None:
        with self._lock:
            span = self._spans.pop(run_id, None)
            started = self._started.pop(run_id, None)
            self._parent.pop(run_id, None)
        if span is None:
            return
        if started is not None:
            attrs["agentrag.latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        span.set_attributes(attrs)
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        else:
            span.set_status(Status(StatusCode.OK))
        span.end()

    # -- chains: the graph run and its nodes ----------------------------------------------
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: dict[str, Any] | Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a span for the graph run (no parent) or for a node visit; remember the rest's parent."""
        name = str(kwargs.get("name") or (serialized or {}).get("name") or "chain")
        md = metadata or {}
        content = self.sink.capture_content
        if parent_run_id is None:
            attrs: dict[str, Any] = {KIND: OpenInferenceSpanKindValues.AGENT.value, SpanAttributes.AGENT_NAME: name}
            attrs[SpanAttributes.GRAPH_NODE_ID] = name
            if content and isinstance(inputs, dict) and "question" in inputs:
                attrs[SpanAttributes.INPUT_VALUE] = str(inputs["question"])
            self._open(run_id, None, f"graph {name}", attrs)
        elif is_node_run(name, tags, md):
            attrs = {
                KIND: OpenInferenceSpanKindValues.CHAIN.value,
                "agentrag.node": name,
                "agentrag.step": int(md.get("langgraph_step", 0)),
                SpanAttributes.GRAPH_NODE_ID: name,
                SpanAttributes.GRAPH_NODE_NAME: name,
                SpanAttributes.GRAPH_NODE_PARENT_ID: within(md) or self.scope.graph,
            }
            self._open(run_id, parent_run_id, f"node {name}", attrs)
        else:
            with self._lock:
                self._parent[run_id] = parent_run_id

    def on_chain_end(self, outputs: dict[str, Any] | Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close the span (with the node's update, or the run's answer, as output)."""
        attrs: dict[str, Any] = {}
        if self.sink.capture_content:
            if isinstance(outputs, dict) and "answer" in outputs and isinstance(outputs["answer"], str):
                attrs[SpanAttributes.OUTPUT_VALUE] = outputs["answer"]
            elif outputs is not None:
                attrs[SpanAttributes.OUTPUT_VALUE] = to_json(outputs)
                attrs[SpanAttributes.OUTPUT_MIME_TYPE] = "application/json"
        self._close(run_id, attrs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close the span as failed."""
        self._close(run_id, {}, error)

    # -- LLM calls --------------------------------------------------------------------------
    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open an LLM span: prompt id and version, model, node, and (optionally) the messages."""
        params = invocation_params or {}
        md = metadata or {}
        prompt_id = str(params.get("prompt_id") or "")
        model = model_of(params, md)
        attrs: dict[str, Any] = {
            KIND: OpenInferenceSpanKindValues.LLM.value,
            SpanAttributes.LLM_MODEL_NAME: model,
            SpanAttributes.LLM_PROVIDER: str(md.get("ls_provider") or ""),
            "agentrag.node": str(md.get("langgraph_node") or ""),
        }
        if prompt_id:
            attrs["agentrag.prompt.id"] = attrs[SpanAttributes.PROMPT_ID] = prompt_id
            version = self._version(prompt_id)
            if version is not None:
                attrs["agentrag.prompt.version"] = version
                attrs[SpanAttributes.LLM_PROMPT_TEMPLATE_VERSION] = str(version)
        if self.sink.capture_content and messages:
            for i, m in enumerate(messages[0]):
                prefix = f"{SpanAttributes.LLM_INPUT_MESSAGES}.{i}."
                attrs[prefix + MessageAttributes.MESSAGE_ROLE] = m.type
                attrs[prefix + MessageAttributes.MESSAGE_CONTENT] = _content(m)[:MAX_VALUE_CHARS]
        self._open(run_id, parent_run_id, f"llm {prompt_id or model}", attrs)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Close the LLM span with token counts and the reply."""
        reply = Reply.of(response)
        text = reply.text
        attrs: dict[str, Any] = {
            SpanAttributes.LLM_TOKEN_COUNT_PROMPT: reply.prompt_tokens,
            SpanAttributes.LLM_TOKEN_COUNT_COMPLETION: reply.completion_tokens,
            SpanAttributes.LLM_TOKEN_COUNT_TOTAL: reply.prompt_tokens + reply.completion_tokens,
        }
        if reply.model:
            attrs[SpanAttributes.LLM_MODEL_NAME] = str(reply.model)
        if self.sink.capture_content:
            prefix = f"{SpanAttributes.LLM_OUTPUT_MESSAGES}.0."
            attrs[prefix + MessageAttributes.MESSAGE_ROLE] = "assistant"
            attrs[prefix + MessageAttributes.MESSAGE_CONTENT] = text[:MAX_VALUE_CHARS]
            attrs[SpanAttributes.OUTPUT_VALUE] = text[:MAX_VALUE_CHARS]
        self._close(run_id, attrs)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close the LLM span as failed."""
        self._close(run_id, {}, error)
