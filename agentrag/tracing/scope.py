"""Who a run is: its run id, thread id, namespace and tenant, carried in the run config.

The same values travel three ways, each for a reader that cannot see the others:
LangChain's ``run_id`` (so the root callback run *is* the agentrag run), the config's
``metadata`` (LangGraph copies it into every checkpoint, so run pages and ``trace list``
find runs by namespace), and :data:`agentrag.runctx.current_run_id` (so the memory
layer can record the run on history entries without an extra argument).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from agentrag.runctx import current_run_id

RUN_KEY = "agentrag_run_id"
"""Checkpoint/config metadata key holding the agentrag run id."""


@dataclass(frozen=True)
class RunScope:
    """The identity of one graph run."""

    graph: str
    thread_id: str
    namespace: str | None = None
    tenant: str | None = None
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any] | None, *, graph: str, thread_id: str = "") -> RunScope:
        """Rebuild a scope from a run config's metadata (what :func:`run_metadata` wrote)."""
        md = metadata or {}
        return cls(
            graph=str(md.get("graph") or graph),
            thread_id=str(md.get("thread_id") or thread_id),
            namespace=md.get("namespace"),
            tenant=md.get("tenant"),
            run_id=str(md.get(RUN_KEY) or uuid.uuid4()),
        )

    def attributes(self) -> dict[str, str]:
        """Span attributes shared by every span of the run (OpenInference ``session.id`` is the thread)."""
        out = {"agentrag.graph": self.graph, "agentrag.thread_id": self.thread_id, "agentrag.run_id": self.run_id}
        out["session.id"] = self.thread_id
        if self.namespace:
            out["agentrag.namespace"] = self.namespace
        tenant = self.tenant or self.namespace
        if tenant:
            out["agentrag.tenant"] = tenant
            out["user.id"] = tenant
        return out


def run_metadata(scope: RunScope) -> dict[str, Any]:
    """Config metadata for a run; LangGraph stores it on each checkpoint of the thread."""
    md: dict[str, Any] = {RUN_KEY: scope.run_id, "graph": scope.graph, "thread_id": scope.thread_id}
    if scope.namespace:
        md["namespace"] = scope.namespace
    if scope.tenant:
        md["tenant"] = scope.tenant
    return md


@contextmanager
def bind_run(run_id: str | None) -> Iterator[None]:
    """Make ``run_id`` the current run for the block (nodes run in copies of this context)."""
    token = current_run_id.set(run_id)
    try:
        yield
    finally:
        try:
            current_run_id.reset(token)
        except ValueError:  # a stream abandoned and closed from another context: nothing left to undo there
            current_run_id.set(None)
