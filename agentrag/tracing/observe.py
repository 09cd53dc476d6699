"""What an ``AgentRAG`` attaches to each run: the run recorder and, when tracing is on, spans.

Held once per ``AgentRAG``; with tracing off it never imports the OpenTelemetry SDK and
hands the memory store back unwrapped, so the "off" path costs one attribute check per run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import BaseCallbackHandler

from agentrag.memory.store import MemoryStore
from agentrag.prompts import PromptLibrary
from agentrag.settings import Settings
from agentrag.tracing.scope import RunScope
from agentrag.tracing.setup import TraceSink, tracing_enabled

if TYPE_CHECKING:
    from agentrag.tracing.runlog import RunLog


def runlog_path(settings: Settings) -> Path:
    """Where run records live (next to the checkpoints)."""
    return settings.data_dir / "runs.sqlite"


class Observability:
    """Per-instance tracing state: the span sink (if on) and the run log (if recording)."""

    def __init__(self, settings: Settings, prompts: PromptLibrary, sink: TraceSink | None = None) -> None:
        self.settings = settings
        self.prompts = prompts
        self._sink = sink
        self._sink_checked = sink is not None
        self._runlog: RunLog | None = None

    @property
    def sink(self) -> TraceSink | None:
        """The span exporter, built on first use when tracing is on; None when off."""
        if not self._sink_checked:
            self._sink_checked = True
            if tracing_enabled(self.settings.tracing):
                self._sink = TraceSink.create(self.settings.tracing)
        return self._sink

    def callbacks(self, scope: RunScope) -> list[BaseCallbackHandler]:
        """Handlers for one run: the recorder (unless disabled) and the span handler (if tracing is on)."""
        out: list[BaseCallbackHandler] = []
        if self.settings.tracing.record_runs:
            from agentrag.tracing.recorder import RunRecorder
            from agentrag.tracing.runlog import RunLog

            if self._runlog is None:
                self._runlog = RunLog(runlog_path(self.settings))
            out.append(RunRecorder(self._runlog, scope))
        sink = self.sink
        if sink is not None:
            from agentrag.tracing.handler import OTelCallbackHandler

            out.append(OTelCallbackHandler(sink, scope, self._prompt_version))
        return out

    def _prompt_version(self, prompt_id: str) -> int | None:
        try:
            return self.prompts.spec(prompt_id).version
        except Exception:  # an unknown id (a custom chat model's own prompt) just has no version
            return None

    def wrap(self, store: MemoryStore) -> MemoryStore:
        """The store with search/write spans when tracing is on; the store itself otherwise."""
        sink = self.sink
        if sink is None:
            return store
        from agentrag.tracing.store import TracedStore

        traced: Any = TracedStore(store, sink)
        return traced  # type: ignore[no-any-return]

    def flush(self) -> None:
        """Export buffered spans now."""
        if self._sink is not None:
            self._sink.flush()

    def close(self) -> None:
        """Flush spans, stop the exporter and close the run log."""
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        if self._runlog is not None:
            self._runlog.close()
            self._runlog = None
