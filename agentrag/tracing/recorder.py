"""``RunRecorder``: a callback handler that notes node visits and LLM calls, then logs the run.

Cheap by design (a few dictionary operations per callback and one SQLite row per run),
because it is on by default: run pages need node times and tokens per call, which the
checkpoints do not keep.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

from agentrag.tracing.calls import Reply, is_node_run, model_of, within
from agentrag.tracing.runlog import LLMCall, NodeVisit, RunLog, RunRecord
from agentrag.tracing.scope import RunScope

log = logging.getLogger(__name__)


class RunRecorder(BaseCallbackHandler):
    """Collects one run's node visits and LLM calls; appends a :class:`RunRecord` when it ends."""

    def __init__(self, runlog: RunLog, scope: RunScope) -> None:
        self.runlog = runlog
        self.scope = scope
        self._lock = threading.Lock()
        self._t0 = 0.0
        self._started_at = datetime.now(UTC)
        self._root: UUID | None = None
        self._open: dict[UUID, tuple[str, int, float, str, str, str]] = {}
        self.nodes: list[NodeVisit] = []
        self.calls: list[LLMCall] = []

    def _ms(self, t: float | None = None) -> float:
        return round(((t or time.perf_counter()) - self._t0) * 1000, 3)

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start the clock at the root; open a node visit for graph nodes."""
        if parent_run_id is None:
            self._root, self._t0, self._started_at = run_id, time.perf_counter(), datetime.now(UTC)
            return
        name = kwargs.get("name")
        if is_node_run(name, tags, metadata):
            step = int((metadata or {}).get("langgraph_step", 0))
            with self._lock:
                self._open[run_id] = (str(name), step, time.perf_counter(), "", "", within(metadata))

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a node visit, or log the run when the root ends."""
        self._end(run_id, None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a node visit or the run as failed."""
        self._end(run_id, f"{type(error).__name__}: {error}")

    def _end(self, run_id: UUID, error: str | None) -> None:
        if run_id == self._root:
            self._finish(error)
            return
        with self._lock:
            visit = self._open.pop(run_id, None)
        if visit is not None:
            name, step, t, _, _, outer = visit
            self.nodes.append(NodeVisit(node=name, step=step, start_ms=self._ms(t), within=outer,
                                        duration_ms=round((time.perf_counter() - t) * 1000, 3), error=error))

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: Any,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open an LLM call record."""
        md, params = metadata or {}, invocation_params or {}
        model = model_of(params, md)
        with self._lock:
            self._open[run_id] = (str(md.get("langgraph_node") or ""), int(md.get("langgraph_step", 0)),
                                  time.perf_counter(), str(params.get("prompt_id") or ""), model, within(md))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Close the LLM call with its token counts."""
        reply = Reply.of(response)
        self._call(run_id, reply.prompt_tokens, reply.completion_tokens, reply.model, None)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close the LLM call as failed."""
        self._call(run_id, 0, 0, None, f"{type(error).__name__}: {error}")

    def _call(self, run_id: UUID, prompt: int, completion: int, model: str | None, error: str | None) -> None:
        with self._lock:
            opened = self._open.pop(run_id, None)
        if opened is None:
            return
        node, step, t, prompt_id, model0, outer = opened
        self.calls.append(LLMCall(node=node, step=step, prompt_id=prompt_id, model=str(model or model0), within=outer,
                                  start_ms=self._ms(t), duration_ms=round((time.perf_counter() - t) * 1000, 3),
                                  prompt_tokens=prompt, completion_tokens=completion, error=error))

    def _finish(self, error: str | None) -> None:
        s = self.scope
        record = RunRecord(
            run_id=s.run_id, thread_id=s.thread_id, graph=s.graph, namespace=s.namespace, tenant=s.tenant,
            started_at=self._started_at, duration_ms=self._ms(), status="error" if error else "ok", error=error,
            nodes=tuple(sorted(self.nodes, key=lambda v: v.start_ms)),
            calls=tuple(sorted(self.calls, key=lambda c: c.start_ms)),
        )
        try:
            self.runlog.append(record)
        except Exception as exc:  # the run's answer matters more than its record
            from agentrag.faults import unavailable

            if unavailable(exc) is not None:  # disk full, store away: one line, the caller reports the fault itself
                log.warning("could not record run %s: %s", s.run_id, " ".join(str(exc).split())[:300])
            else:
                log.exception("could not record run %s", s.run_id)
