"""Shared fixtures: one real embedder per test session, scripted-model AgentRAG factories."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from agentrag.api import AgentRAG
from agentrag.memory.embedder import CachedEmbedder, default_embedder
from agentrag.settings import load_settings
from agentrag.testing import Reply, ScriptedChatModel


@pytest.fixture(scope="session")
def embedder() -> CachedEmbedder:
    """The real all-MiniLM-L6-v2 embedder, loaded once."""
    return default_embedder()


@pytest.fixture
def make_rag(tmp_path: Path, embedder: CachedEmbedder) -> Iterator[Callable[..., AgentRAG]]:
    """Build AgentRAG instances on real Chroma in a temp dir with a scripted generator."""
    made: list[AgentRAG] = []

    def factory(
        replies: dict[str, Reply], probabilities: dict[str, float | list[float]] | None = None, **settings: object
    ) -> AgentRAG:
        s = load_settings(data_dir=tmp_path / "data", **settings)
        llm = ScriptedChatModel(replies=replies, probabilities=probabilities or {})
        rag = AgentRAG(s, llm=llm, embedder=embedder)
        made.append(rag)
        return rag

    yield factory
    for rag in made:
        rag.close()
