"""Chroma indexes only what agentrag filters on; collections made before that keep working."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from memhelpers import StoreFactory

from agentrag.memory import ChromaStore, records
from agentrag.memory.chroma_client import collection_name
from agentrag.memory.store import SearchFilters
from agentrag.types import MemoryItem

MARCH = datetime(2023, 3, 5, tzinfo=UTC)


def _items(ns: str) -> list[MemoryItem]:
    return [
        MemoryItem.new(
            namespace=ns,
            level="raw",
            text="Alice moved to Lisbon in March.",
            source_id="chat-1",
            position=0,
            speaker="alice",
            session_id="s1",
            event_time=MARCH,
        ),
        MemoryItem.new(
            namespace=ns,
            level="raw",
            text="Bob moved to Lisbon in June.",
            source_id="chat-2",
            position=0,
            speaker="bob",
            session_id="s2",
            event_time=datetime(2023, 6, 1, tzinfo=UTC),
        ),
    ]


def _filtered_searches_work(store: ChromaStore, ns: str) -> None:
    """Every key ``where`` filters on, through Chroma's ``where`` (dense) and BM25 (sparse)."""
    for filters in (
        SearchFilters(speaker="alice"),
        SearchFilters(session_id="s1"),
        SearchFilters(source_id="chat-1"),
        SearchFilters(time_to=datetime(2023, 4, 1, tzinfo=UTC)),
        SearchFilters(time_from=datetime(2023, 3, 1, tzinfo=UTC), time_to=datetime(2023, 3, 31, tzinfo=UTC)),
        SearchFilters(as_of=datetime.now(UTC), speaker="alice"),
    ):
        for mode in ("dense", "hybrid"):
            hits = store.search(ns, "who moved to Lisbon?", k=5, filters=filters, mode=mode)
            assert [h.item.speaker for h in hits] == ["alice"], (filters, mode)
    assert store.count(ns) == 2 and len(store.list(ns, "raw")) == 2
    assert store.current_ids_of_source(ns, "chat-2") == {_items(ns)[1].id}


def test_new_collections_have_no_full_text_index_and_filter_on_every_key(store: ChromaStore, ns: str) -> None:
    store.add(ns, _items(ns))
    col = store.vectors.collection(ns, "raw", create=False)
    assert col is not None
    with pytest.raises(Exception, match="(?i)fts|full-text"):  # embedded and server raise different types
        col.get(where_document={"$contains": "Lisbon"}, include=[])
    _filtered_searches_work(store, ns)


def test_collections_made_before_the_schema_keep_working(make_store: StoreFactory, ns: str) -> None:
    store = make_store()
    old = store.vectors.client.get_or_create_collection(  # what earlier versions created
        collection_name(ns, "raw"),
        configuration={"hnsw": {"space": "cosine"}},
        metadata={
            "agentrag_namespace": ns,
            "agentrag_level": "raw",
            "embedder": store.embedder.name,
            "dim": store.embedder.dim,
        },
        embedding_function=None,
    )
    store.add(ns, _items(ns))
    assert old.get(where_document={"$contains": "Bob"}, include=[])["ids"] == [_items(ns)[1].id]  # still the old one
    _filtered_searches_work(store, ns)


def _keys(clause: Any) -> set[str]:
    if isinstance(clause, list):
        return set().union(*(_keys(c) for c in clause))
    if isinstance(clause, dict):
        return set().union(*(({k} if not k.startswith("$") else set()) | _keys(v) for k, v in clause.items()))
    return set()


def test_the_indexed_keys_are_exactly_the_keys_where_filters_on() -> None:
    every = SearchFilters(speaker="a", session_id="s", source_id="d", time_from=MARCH, time_to=MARCH, as_of=MARCH)
    assert _keys(records.where(every, MARCH)) == set(records.FILTERED_KEYS)
    md = records.to_metadata(_items("n")[0])
    assert all(isinstance(md[k], records.FILTERED_KEYS[k]) for k in records.FILTERED_KEYS)
