"""The ``Ledger`` contract as a pytest mixin: a backend proves itself with one subclass.

Like Haystack's ``DocumentStoreBaseTests``::

    class TestMyLedger(LedgerContractTests):
        @pytest.fixture
        def ledger_factory(self, tmp_path):
            return lambda: MyLedger(tmp_path / "x")   # every call: a new handle on the SAME store

Each call of ``ledger_factory`` stands for another process on the same state
store; handles are closed by the mixin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from agentrag.errors import ConflictError
from agentrag.ledger import DERIVED_FROM, SUPERSEDED_BY, Change, Edge, Ledger
from agentrag.runctx import current_run_id

LedgerFactory = Callable[[], Ledger]


def _add(item: str, text: str, level: str = "fact") -> Change:
    return Change(item, level, "add", reason="added", after=text)  # type: ignore[arg-type]


class LedgerContractTests:
    """Behaviour every ``Ledger`` backend must show (see ``agentrag/ledger/base.py``).

    A backend's test class subclasses this and provides the ``ledger_factory`` fixture (a
    ``LedgerFactory``: new handles on one shared store); without it pytest reports the fixture
    as not found, so a backend cannot pass the contract by forgetting it.
    """

    @pytest.fixture
    def handles(self, ledger_factory: LedgerFactory) -> Iterator[Callable[[], Ledger]]:
        opened: list[Ledger] = []

        def open_one() -> Ledger:
            opened.append(ledger_factory())
            return opened[-1]

        yield open_one
        for h in opened:
            h.close()

    @pytest.fixture
    def ledger(self, handles: Callable[[], Ledger]) -> Ledger:
        return handles()

    def test_is_a_ledger(self, ledger: Ledger) -> None:
        assert isinstance(ledger, Ledger)

    def test_append_assigns_increasing_numbers_and_reads_back(self, ledger: Ledger) -> None:
        token = current_run_id.set("run-42")
        try:
            seqs = ledger.append("ns", [_add("f-1", "one"), _add("f-2", "two")], actor="tester")
        finally:
            current_run_id.reset(token)
        assert len(seqs) == 2 and seqs[0] < seqs[1]
        (entry,) = ledger.entries("ns", "f-2")
        assert (entry.seq, entry.item_id, entry.namespace, entry.event) == (seqs[1], "f-2", "ns", "add")
        assert (entry.actor, entry.reason, entry.after, entry.run_id) == ("tester", "added", "two", "run-42")
        more = ledger.append("ns", [_add("f-3", "three")], actor="tester")
        assert more[0] > seqs[1] and ledger.entries("ns", "f-3")[0].run_id is None
        assert ledger.count("ns") == 3 and ledger.latest("ns", "f-1") == ledger.entries("ns", "f-1")[0]
        assert ledger.latest("ns", "unknown") is None

    def test_a_replayed_change_is_not_written_twice(self, ledger: Ledger) -> None:
        ledger.append("ns", [_add("f-1", "one")], actor="a")
        assert ledger.append("ns", [_add("f-1", "one")], actor="a") == []
        upd = Change("f-1", "fact", "update", reason="edit", before="one", after="uno")
        assert len(ledger.append("ns", [upd], actor="b")) == 1
        assert len(ledger.append("ns", [_add("f-1", "one")], actor="a")) == 1  # changed back: a new event
        assert [(e.event, e.after) for e in ledger.entries("ns", "f-1")] == [
            ("add", "one"),
            ("update", "uno"),
            ("add", "one"),
        ]

    def test_last_seq_by_namespace_level_and_bound(self, ledger: Ledger) -> None:
        assert ledger.last_seq("ns") == 0
        (r,) = ledger.append("ns", [_add("r-1", "raw", "raw")], actor="a")
        (f,) = ledger.append("ns", [_add("f-1", "fact")], actor="a")
        ledger.append("other", [_add("f-9", "elsewhere")], actor="a")
        assert ledger.last_seq("ns") == f and ledger.last_seq("ns", "raw") == r and ledger.last_seq("ns", "fact") == f
        assert ledger.last_seq("ns", "episode") == 0
        assert ledger.last_seq("ns", below=f) == r and ledger.last_seq("ns", "fact", below=f) == 0

    def test_changes_since_gives_each_items_latest_change(self, ledger: Ledger) -> None:
        (s1,) = ledger.append("ns", [_add("f-1", "one")], actor="a")
        ledger.append("ns", [_add("f-2", "two")], actor="a")
        ledger.append("ns", [Change("f-1", "fact", "invalidate", reason="old", before="one")], actor="a")
        refs = ledger.changes_since("ns", "fact", s1)
        assert [(r.item_id, r.event) for r in refs] == [("f-2", "add"), ("f-1", "invalidate")]
        assert refs[0].seq < refs[1].seq and refs[0].after == "two"
        assert ledger.changes_since("ns", "fact", refs[-1].seq) == [] and ledger.changes_since("ns", "raw", 0) == []

    def test_edges_are_idempotent_rewired_and_removed(self, ledger: Ledger) -> None:
        edges = [Edge("e-1", "f-1", DERIVED_FROM), Edge("f-1", "r-1", DERIVED_FROM), Edge("f-1", "f-2", SUPERSEDED_BY)]
        ledger.append("ns", [], actor="a", edges=edges)
        ledger.append("ns", [], actor="a", edges=edges)  # re-derived on a re-run: no duplicates
        assert ledger.edges("ns") == edges and ledger.edges("other") == []
        ledger.append("ns", [], actor="a", reparent=["f-1"], edges=[Edge("f-1", "r-2", DERIVED_FROM)])
        assert set(ledger.edges("ns")) == {edges[0], edges[2], Edge("f-1", "r-2", DERIVED_FROM)}
        ledger.append("ns", [], actor="a", remove_nodes=["f-1"])
        assert ledger.edges("ns") == []

    def test_compare_and_set_refuses_to_close_a_closed_item(self, ledger: Ledger) -> None:
        ledger.append("ns", [_add("f-1", "old")], actor="a")
        first = Change("f-1", "fact", "supersede", reason="r", before="old", after="A", related_id="f-a")
        ledger.append("ns", [_add("f-a", "A"), first], actor="w1", open_ids=["f-1"])
        second = Change("f-1", "fact", "supersede", reason="r", before="old", after="B", related_id="f-b")
        with pytest.raises(ConflictError, match="superseded by f-a"):
            ledger.append("ns", [_add("f-b", "B"), second], actor="w2", open_ids=["f-1"])
        assert ledger.entries("ns", "f-b") == []  # the loser wrote nothing, not even its new item
        assert ledger.append("ns", [_add("f-a", "A"), first], actor="w1", open_ids=["f-1"]) == []  # own claim replayed
        assert [e.event for e in ledger.entries("ns", "f-1")] == ["add", "supersede"]

    def test_namespaces_are_isolated(self, ledger: Ledger) -> None:
        ledger.append("alpha", [_add("f-1", "secret")], actor="a", edges=[Edge("f-1", "r-1", DERIVED_FROM)])
        assert ledger.entries("beta", "f-1") == [] and ledger.edges("beta") == [] and ledger.count("beta") == 0
        assert ledger.changes_since("beta", "fact", 0) == [] and ledger.last_seq("beta") == 0

    def test_another_handle_sees_every_write(self, handles: Callable[[], Ledger]) -> None:
        a, b = handles(), handles()
        a.append("ns", [_add("f-1", "one")], actor="a", edges=[Edge("f-1", "r-1", DERIVED_FROM)])
        assert [e.after for e in b.entries("ns", "f-1")] == ["one"] and b.edges("ns") == a.edges("ns")
        assert b.last_seq("ns") == a.last_seq("ns") > 0

    def test_concurrent_claims_have_exactly_one_winner(self, handles: Callable[[], Ledger]) -> None:
        setup = handles()
        setup.append("ns", [_add("f-1", "old")], actor="setup")
        workers = [handles() for _ in range(4)]
        outcomes: list[str] = []
        start = threading.Barrier(len(workers))

        def claim(n: int) -> None:
            change = Change("f-1", "fact", "supersede", reason="r", before="old", after=f"v{n}", related_id=f"f-n{n}")
            start.wait()
            try:
                workers[n].append("ns", [change], actor=f"w{n}", open_ids=["f-1"])
                outcomes.append("won")
            except ConflictError:
                outcomes.append("lost")

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(workers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["lost", "lost", "lost", "won"]
        assert [e.event for e in setup.entries("ns", "f-1")] == ["add", "supersede"]

    def test_concurrent_appends_get_distinct_ordered_numbers(self, handles: Callable[[], Ledger]) -> None:
        workers = [handles() for _ in range(3)]
        got: list[list[int]] = [[] for _ in workers]

        def write(n: int) -> None:
            for i in range(20):
                got[n] += workers[n].append("ns", [_add(f"f-{n}-{i}", f"text {n} {i}")], actor=f"w{n}")

        threads = [threading.Thread(target=write, args=(n,)) for n in range(len(workers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        flat = [s for g in got for s in g]
        assert len(flat) == len(set(flat)) == 60 and all(g == sorted(g) for g in got)
        assert workers[0].count("ns") == 60 and workers[0].last_seq("ns") == max(flat)
