"""A query that meets a Chroma segment still being written is tried again; other errors are not.

Seen with two ``serve`` workers on one Chroma server: one worker's first write to
a collection was being flushed while the other queried it, and the server answered
"Error creating hnsw segment reader: Nothing found on disk". The collection here is
real (embedded Chroma); only its ``query`` is wrapped to fail the first times.
"""

from __future__ import annotations

from typing import Any

import chromadb
import pytest
from chromadb.errors import InternalError

from agentrag.memory.vectors import _query

BEING_WRITTEN = "Error executing plan: Internal error: Error creating hnsw segment reader: Nothing found on disk"


class Flaky:
    """A real collection whose first ``fails`` queries raise ``error``."""

    def __init__(self, col: Any, fails: int, error: Exception) -> None:
        self.col, self.fails, self.error, self.calls = col, fails, error, 0
        self.name = col.name

    def query(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.fails:
            raise self.error
        return self.col.query(**kwargs)


@pytest.fixture
def col(tmp_path) -> Any:
    client = chromadb.PersistentClient(path=str(tmp_path / "c"))
    c = client.create_collection("qretry", embedding_function=None)
    c.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["alpha", "beta"])
    return c


def test_a_segment_being_written_is_queried_again(col) -> None:
    flaky = Flaky(col, 2, InternalError(BEING_WRITTEN))
    res = _query(flaky, query_embeddings=[[1.0, 0.0]], n_results=1)  # type: ignore[arg-type]
    assert res["ids"] == [["a"]] and flaky.calls == 3


def test_other_internal_errors_and_a_lasting_one_are_raised(col) -> None:
    other = Flaky(col, 1, InternalError("Error executing plan: something else"))
    with pytest.raises(InternalError, match="something else"):
        _query(other, query_embeddings=[[1.0, 0.0]], n_results=1)  # type: ignore[arg-type]
    assert other.calls == 1
    lasting = Flaky(col, 100, InternalError(BEING_WRITTEN))
    with pytest.raises(InternalError, match="Nothing found"):
        _query(lasting, query_embeddings=[[1.0, 0.0]], n_results=1)  # type: ignore[arg-type]
    assert lasting.calls == 6
