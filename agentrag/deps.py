"""Run dependencies handed to every graph node through LangGraph's runtime context.

Backends travel here, never in module globals, so two AgentRAG instances (two
tenants' configs, a test and an app) can run side by side in one process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from langchain_core.language_models import BaseChatModel

from agentrag.prompts import PromptLibrary, default_library
from agentrag.settings import Settings, load_settings

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from agentrag.memory.store import MemoryStore

log = logging.getLogger(__name__)


@dataclass
class Deps:
    """What a node may use: generator, memory, prompts and settings."""

    llm: BaseChatModel
    memory: MemoryStore
    settings: Settings
    prompts: PromptLibrary = field(default_factory=default_library)

    @classmethod
    def from_settings(cls, settings: Settings, llm: BaseChatModel | None = None) -> Deps:
        """Build the default backends a settings object describes."""
        from agentrag.llm.factory import make_llm
        from agentrag.memory import open_store

        return cls(llm=llm or make_llm(settings.llm), memory=open_store(settings), settings=settings)


@cache
def _default_deps() -> Deps:
    log.info("no run context given: building dependencies from settings (AGENTRAG_* environment)")
    return Deps.from_settings(load_settings())


def deps_of(runtime: Runtime[Deps]) -> Deps:
    """The run's dependencies; when a tool such as LangGraph Studio passes none, build them from settings."""
    ctx = runtime.context
    return ctx if isinstance(ctx, Deps) else _default_deps()
