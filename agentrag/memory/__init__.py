"""Multi-granularity memory: raw items, facts and episodes in Chroma, with history and provenance.

``open_store(settings)`` is the one entry point the graphs, the API and the CLI use.
"""

from __future__ import annotations

from agentrag.memory.chroma_store import ChromaStore
from agentrag.memory.embedder import CachedEmbedder, Embedder, MiniLMEmbedder, default_embedder
from agentrag.memory.namespaces import validate_namespace
from agentrag.memory.store import AddResult, Explanation, HistoryEntry, MemoryStore, SearchFilters, SearchMode
from agentrag.settings import Settings


def open_store(settings: Settings, embedder: Embedder | None = None) -> MemoryStore:
    """The memory store ``settings`` describe (embedded Chroma or a Chroma server).

    ``embedder`` defaults to all-MiniLM-L6-v2 with a cache, loaded on first use.
    """
    return ChromaStore(settings, embedder)


__all__ = [
    "AddResult",
    "CachedEmbedder",
    "ChromaStore",
    "Embedder",
    "Explanation",
    "HistoryEntry",
    "MemoryStore",
    "MiniLMEmbedder",
    "SearchFilters",
    "SearchMode",
    "default_embedder",
    "open_store",
    "validate_namespace",
]
