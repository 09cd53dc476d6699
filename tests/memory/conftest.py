"""Memory test fixtures: real Chroma (embedded and a real server on loopback) and the real embedder."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from memhelpers import StoreFactory

from agentrag.memory import ChromaStore
from agentrag.memory.embedder import CachedEmbedder
from agentrag.settings import EmbeddedChroma, Settings

_counter = itertools.count()


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(
    backend: str, tmp_path: Path, embedder: CachedEmbedder, request: pytest.FixtureRequest
) -> Iterator[StoreFactory]:
    """Open stores on the chosen backend; every store of one test shares its data dir."""
    made: list[ChromaStore] = []
    chroma = request.getfixturevalue("chroma_server") if backend == "server" else EmbeddedChroma()

    def factory(**overrides: object) -> ChromaStore:
        settings = Settings(data_dir=tmp_path / "data", chroma=chroma, **overrides)  # type: ignore[arg-type]
        store = ChromaStore(settings, embedder)
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> ChromaStore:
    return make_store()


@pytest.fixture
def ns() -> str:
    """A fresh namespace per test (the server's collections outlive a test's data dir)."""
    return f"t{next(_counter)}-{uuid.uuid4().hex[:8]}"
