"""The run a piece of work belongs to, carried implicitly down to the memory layer.

Graph runs set it; the ledger/history records it on every entry, so one run's memory
changes can be listed (and traced) without threading a run id through every call.
"""

from __future__ import annotations

from contextvars import ContextVar

current_run_id: ContextVar[str | None] = ContextVar("agentrag_run_id", default=None)
"""The id of the graph run in progress in this context, or None outside a run."""
