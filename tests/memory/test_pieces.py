"""Unit tests of the memory's pure pieces: namespaces, fusion, records, history, provenance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from agentrag.errors import InputError, NamespaceError
from agentrag.ledger import DERIVED_FROM, SUPERSEDED_BY, Edge
from agentrag.ledger.sqlite import SqliteLedger
from agentrag.memory import records
from agentrag.memory.fusion import interpolate, min_max, rrf
from agentrag.memory.inputs import check_id, check_query, check_text
from agentrag.memory.namespaces import validate_namespace
from agentrag.memory.provenance import ProvenanceGraph
from agentrag.memory.store import SearchFilters
from agentrag.types import MemoryItem


@pytest.mark.parametrize("good", ["alice", "user-42", "team.alpha", "a@b.com", "tenant:7", "A_B+c", "x" * 128, "0"])
def test_valid_namespaces_pass(good: str) -> None:
    assert validate_namespace(good) == good


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 129, "limit is 128"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("a\u200bb", "control"),
        (" a", "whitespace"),
        ("a/b", "path"),
        ("../etc", "path"),
        ("..", "path"),
        (".a", "path"),
        ("a\\b", "path"),
        ("~", "path"),
        ('{"$ne": 1}', "filter expression"),
        ("$or", "filter"),
        ("a OR 1=1", "filter expression"),
        ("a;b", "filter expression"),
        ("*", "filter expression"),
        ("-a", "characters outside"),
        ("é", "characters outside"),
    ],
)
def test_invalid_namespaces_say_why(bad: str, why: str) -> None:
    with pytest.raises(NamespaceError, match=why):
        validate_namespace(bad)


def test_namespace_must_be_a_string() -> None:
    with pytest.raises(NamespaceError, match="must be a string"):
        validate_namespace(None)


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = dict(rrf([["a", "b", "c"], ["b", "d"]], k=60))
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61) and fused["d"] == pytest.approx(1 / 62)
    assert [i for i, _ in rrf([["a", "b", "c"], ["b", "d"]], k=60)] == ["b", "a", "d", "c"]


def test_rrf_weights_ties_and_repeats() -> None:
    assert [i for i, _ in rrf([["x"], ["y"]])] == ["x", "y"]  # tie: first appearance wins
    assert [i for i, _ in rrf([["x"], ["y"]], weights=[1.0, 2.0])] == ["y", "x"]
    assert dict(rrf([["a", "a", "b"]], k=0))["a"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="weights"):
        rrf([["a"]], weights=[1.0, 2.0])
    assert rrf([]) == []


def test_min_max_and_interpolation() -> None:
    assert min_max({"a": 2.0, "b": 4.0, "c": 3.0}) == {"a": 0.0, "b": 1.0, "c": 0.5}
    assert min_max({"a": 5.0, "b": 5.0}) == {"a": 1.0, "b": 1.0}
    fused = dict(interpolate({"a": 0.9, "b": 0.5}, {"b": 10.0, "c": 2.0}, alpha=0.25))
    assert fused == pytest.approx({"a": 0.25, "b": 0.75, "c": 0.0})
    assert [i for i, _ in interpolate({"a": 1.0}, {"b": 1.0}, alpha=1.0)] == ["a", "b"]
    with pytest.raises(ValueError, match="alpha"):
        interpolate({}, {}, alpha=1.5)


def test_text_and_id_checks() -> None:
    assert check_text("fine\ttext\nwith breaks\x0c", what="t", max_chars=100)
    for bad, match in [("", "empty"), ("a\x01b", "binary"), ("a" * 11, "limit"), ("\ud800", "Unicode"), (3, "string")]:
        with pytest.raises(InputError, match=match):
            check_text(bad, what="t", max_chars=10)
    with pytest.raises(InputError, match="query"):
        check_query("q" * 5000)
    for bad in ["", " x", "a\x00", "x" * 300, None]:
        with pytest.raises(InputError):
            check_id(bad)


def test_records_round_trip_and_where() -> None:
    plus2 = timezone(timedelta(hours=2))
    item = MemoryItem.new(
        namespace="n",
        level="fact",
        text="t",
        source_id="s",
        position=3,
        speaker="a",
        session_id="s1",
        event_time=datetime(2023, 5, 8, 15, 56, 0, 123456, tzinfo=plus2),
        parents=("r-1", "r-2"),
        meta={"k": "v"},
        valid_to=datetime(2030, 1, 1),
    )
    norm = records.normalise(item)
    md = records.to_metadata(norm)
    assert md["event_us"] == records.to_us(datetime(2023, 5, 8, 13, 56, 0, 123456, tzinfo=UTC))
    back = records.from_record(item.id, "t", {k: v for k, v in md.items() if v is not None})
    assert back == norm and back.valid_to == datetime(2030, 1, 1, tzinfo=UTC)
    open_md = records.to_metadata(records.normalise(item.model_copy(update={"valid_to": None})))
    assert open_md["valid_to_us"] == records.OPEN_END_US and open_md["superseded_by"] is None
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert records.where(SearchFilters(include_invalid=True), now) is None
    clause = records.where(SearchFilters(speaker="a", time_from=now), now)
    assert clause is not None and {"speaker": {"$eq": "a"}} in clause["$and"]
    assert records.matches(norm, SearchFilters(speaker="a", as_of=datetime(2029, 1, 1)), now)
    assert not records.matches(norm, SearchFilters(speaker="b"), now)
    assert not records.matches(norm, SearchFilters(as_of=datetime(2031, 1, 1)), now)


def test_provenance_walks_and_persists(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "p.sqlite3")
    edges = [
        ("e", "f1", DERIVED_FROM),
        ("e", "f2", DERIVED_FROM),
        ("f1", "r1", DERIVED_FROM),
        ("f2", "r1", DERIVED_FROM),
        ("f1", "f1b", SUPERSEDED_BY),
        ("f1b", "f1c", SUPERSEDED_BY),
    ]
    ledger.append("ns", [], actor="t", edges=[Edge(*e) for e in edges])
    prov = ProvenanceGraph(ledger)
    g = prov.graph("ns")
    assert prov.ancestors(g, "e") == ["f1", "f2", "r1"]
    assert prov.successors(g, "f1") == ["f1b", "f1c"] and prov.predecessors(g, "f1c") == ["f1b", "f1"]
    assert prov.ancestors(g, "unknown") == []
    ledger.append("ns", [], actor="t", remove_nodes=["f2"])
    fresh = ProvenanceGraph(SqliteLedger(tmp_path / "p.sqlite3"))  # another process: reads what was persisted
    assert fresh.ancestors(fresh.graph("ns"), "e") == ["f1", "r1"]
    assert fresh.graph("other").number_of_edges() == 0
