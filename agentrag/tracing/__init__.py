"""Seeing a run: OpenTelemetry spans (OpenInference conventions) and a per-run record for run pages.

Everything here hangs off two seams, never off the nodes (STYLE.md): LangChain callback
handlers passed in each run's config, and one decorator around the memory store. With
tracing off, nothing from the OpenTelemetry SDK is imported and no handler is attached.
"""

from __future__ import annotations

from agentrag.tracing.scope import RunScope, bind_run, run_metadata
from agentrag.tracing.setup import TraceSink, tracing_enabled

__all__ = ["RunScope", "TraceSink", "bind_run", "run_metadata", "tracing_enabled"]
