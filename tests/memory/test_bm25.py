"""BM25 index: freshness, the delta's scoring, staleness-bounded rebuilds and filters."""

from __future__ import annotations

import pytest

from agentrag.memory.bm25 import Bm25Filter, Bm25Index, Doc, tokenize

OPEN = 2**62


def doc(i: int | str, text: str, **kw: object) -> Doc:
    return Doc(id=str(i), text=text, valid_from_us=0, valid_to_us=OPEN, **kw)  # type: ignore[arg-type]


CORPUS = [
    "The quick brown fox jumps over the lazy dog",
    "A fox is a small omnivorous mammal",
    "Dogs are loyal companions",
    "The weather in Paris is mild in spring",
    "Spring flowers bloom in the park",
    "Quantum computers use qubits",
]


def test_tokenize_lowercases_and_drops_stopwords() -> None:
    assert tokenize("The Fox, the DOG and 7 cats!") == ["fox", "dog", "7", "cats"]


def test_delta_docs_score_exactly_like_segment_docs() -> None:
    idx = Bm25Index(exact_below=0, rebuild_ratio=1.0)
    idx.upsert([doc(i, t) for i, t in enumerate(CORPUS)])
    idx.rebuild()
    idx.upsert([doc("copy", CORPUS[1])])  # lands in the delta; same text as segment doc "1"
    assert idx.stats()["delta_docs"] == 1 and not idx.needs_rebuild()
    scores = dict(idx.search("small fox mammal", k=10))
    assert scores["copy"] == pytest.approx(scores["1"], rel=1e-5)
    assert idx.stats()["rebuilds"] == 1  # no rebuild happened for the search


def test_small_indexes_are_always_exact() -> None:
    idx = Bm25Index(exact_below=100)
    idx.upsert([doc(i, t) for i, t in enumerate(CORPUS)])
    assert idx.search("fox", k=1)[0][0] in ("0", "1")
    idx.upsert([doc("new", "fox fox fox")])
    assert idx.search("fox", k=1)[0][0] == "new"  # found at once, scored with fresh statistics
    assert idx.stats()["delta_docs"] == 0 and idx.stats()["rebuilds"] == 2


def test_rebuild_waits_for_the_staleness_bound() -> None:
    idx = Bm25Index(exact_below=0, rebuild_ratio=0.5)
    idx.upsert([doc(i, f"common term{i}") for i in range(10)])
    idx.search("common", k=3)
    assert idx.stats()["rebuilds"] == 1
    idx.upsert([doc(f"n{i}", f"common fresh{i}") for i in range(5)])  # 5 changes = 50% of 10: not yet
    assert [h for h, _ in idx.search("fresh3", k=3)] == ["n3"]  # but searchable right away
    assert idx.stats()["rebuilds"] == 1
    idx.upsert([doc("n5", "common fresh5")])  # 6 > 5: the next search rebuilds
    idx.search("common", k=3)
    assert idx.stats() == {
        "docs": 16,
        "segment_docs": 16,
        "delta_docs": 0,
        "dead_rows": 0,
        "rebuilds": 2,
        "last_rebuild_s": idx.stats()["last_rebuild_s"],
    }


def test_changed_text_replaces_and_removed_docs_vanish() -> None:
    idx = Bm25Index(exact_below=0, rebuild_ratio=10.0)
    idx.upsert([doc(i, t) for i, t in enumerate(CORPUS)])
    idx.rebuild()
    idx.upsert([doc("2", "Cats are independent companions")])
    assert "2" not in dict(idx.search("dogs loyal", k=10))
    assert dict(idx.search("cats", k=10)).keys() == {"2"}
    idx.upsert([doc("2", "Cats are independent companions")])  # same text again: no new row
    assert idx.stats()["dead_rows"] == 1 and len(idx) == 6
    idx.remove(["0", "1"])
    assert dict(idx.search("fox", k=10)) == {} and len(idx) == 4
    idx.rebuild()
    assert idx.stats()["dead_rows"] == 0 and dict(idx.search("cats", k=10)).keys() == {"2"}


def test_filters_validity_speaker_session_source_time() -> None:
    idx = Bm25Index()
    idx.upsert(
        [
            Doc("a", "fox report", 0, 100, event_us=10, speaker="ann", session_id="s1", source_id="x"),
            Doc("b", "fox report", 50, OPEN, event_us=20, speaker="bo", session_id="s2", source_id="y"),
            Doc("c", "fox report", 0, OPEN, event_us=None, speaker="ann", session_id="s2", source_id="x"),
        ]
    )

    def ids(**kw: object) -> set[str]:
        return {i for i, _ in idx.search("fox", k=10, flt=Bm25Filter(**kw))}  # type: ignore[arg-type]

    assert ids() == {"a", "b", "c"}
    assert ids(as_of_us=10) == {"a", "c"} and ids(as_of_us=200) == {"b", "c"}
    assert ids(speaker="ann") == {"a", "c"} and ids(session_id="s2") == {"b", "c"} and ids(source_id="y") == {"b"}
    assert ids(speaker="nobody") == set()
    assert ids(time_from_us=15) == {"b"} and ids(time_to_us=15) == {"a"}
    idx.set_validity("c", 0, 5)
    assert ids(as_of_us=10) == {"a"}


def test_queries_without_known_terms_return_nothing() -> None:
    idx = Bm25Index()
    assert idx.search("anything", k=3) == []
    idx.upsert([doc(1, "hello world")])
    assert idx.search("the of and", k=3) == [] and idx.search("unknownterm", k=3) == []


def test_snapshot_round_trip_keeps_segment_delta_and_dead_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    idx = Bm25Index(exact_below=0, rebuild_ratio=10.0)
    idx.upsert([doc(i, t, speaker="ann" if i % 2 else None) for i, t in enumerate(CORPUS)])
    idx.rebuild()
    idx.upsert([doc("late", "a late fox in the delta"), doc("2", "Cats are independent companions")])
    idx.remove(["5"])
    idx.generation = 42
    idx.save(tmp_path / "i.npz")
    back = Bm25Index.load(tmp_path / "i.npz", exact_below=0, rebuild_ratio=10.0)
    assert back is not None and back.generation == back.saved_generation == 42
    assert back.stats() == idx.stats()
    for q in ("fox", "cats companions", "qubits", "spring park"):
        for flt in (None, Bm25Filter(speaker="ann")):
            assert back.search(q, 10, flt) == idx.search(q, 10, flt), q
    back.upsert([doc("more", "another fox")])  # still writable after loading
    assert "more" in dict(back.search("fox", 10))
    assert Bm25Index.load(tmp_path / "missing.npz") is None
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert Bm25Index.load(tmp_path / "bad.npz") is None


def test_memory_estimate_tracks_adds_rebuilds_and_snapshots(tmp_path) -> None:  # type: ignore[no-untyped-def]
    index = Bm25Index(exact_below=0)
    empty = index.nbytes()
    docs = [Doc(id=f"d{i}", text=f"word{i} shared text number {i}", valid_from_us=0, valid_to_us=10) for i in range(50)]
    index.upsert(docs)
    grown = index.nbytes()
    assert grown > empty
    index.rebuild()
    rebuilt = index.nbytes()
    assert rebuilt > empty  # the delta postings became the segment's score matrix
    index.save(tmp_path / "i.npz")
    loaded = Bm25Index.load(tmp_path / "i.npz")
    assert loaded is not None and loaded.nbytes() == rebuilt
