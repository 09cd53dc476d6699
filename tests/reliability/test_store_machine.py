"""A hypothesis state machine over the Chroma memory store, checked against a plain reference model.

Like Chroma's own property tests of its store: random sequences of add, re-add,
update, supersede, invalidate, forget (with its cascade through provenance) and
re-add after forget run on a real ``ChromaStore`` (real embedder, real Chroma,
SQLite ledger), and after each step the store must agree with a dictionary:

* search (dense, sparse, hybrid) returns only items the reference holds as current,
  never a forgotten or superseded one, and dense search with a large ``k`` returns all of them;
* an as-of search at any moment seen so far (``SearchFilters.as_of``, the ingestion clock)
  returns exactly the items valid at that moment (supersede closes validity at the
  successor's start, invalidate at the real now, after every moment of the virtual clock);
* counts, versions and each item's history of events agree, and a forgotten item's
  history keeps tombstones without its text.

The default run is derandomized and bounded; ``AGENTRAG_RELIABILITY_LONG=1`` runs
the long, random version (see the README "Reliability").
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from agentrag.errors import MemoryStoreError, NotFoundError
from agentrag.memory import ChromaStore, SearchFilters
from agentrag.memory.embedder import CachedEmbedder
from agentrag.settings import Settings
from agentrag.types import Level, MemoryItem

LONG = os.environ.get("AGENTRAG_RELIABILITY_LONG") == "1"
EXAMPLES = 200 if LONG else 12
STEPS = 60 if LONG else 25
BASE = datetime(2020, 1, 1, tzinfo=UTC)
LATER = datetime.max.replace(tzinfo=UTC)
"""Reference stand-in for "closed at the real now": after every moment of the virtual clock."""
SENTENCES = [
    "The river floods the valley every spring.",
    "Alice moved to Paris for a new job.",
    "Bob plays the cello in an orchestra.",
    "The bakery on Main Street sells rye bread.",
    "Carol adopted a grey cat named Smoke.",
    "The library closes at nine on Fridays.",
    "Dan runs a marathon each October.",
    "The old bridge was rebuilt in stone.",
    "Eve studies volcanoes in Iceland.",
    "The garden has three apple trees.",
]
_namespaces = itertools.count()


@dataclass
class Ref:
    """What the reference knows of one item."""

    item: MemoryItem
    valid_from: datetime
    valid_to: datetime | None = None
    superseded_by: str | None = None
    version: int = 1
    forgotten: bool = False
    events: list[str] = field(default_factory=list)

    def valid_at(self, t: datetime) -> bool:
        return not self.forgotten and self.valid_from <= t and (self.valid_to is None or t < self.valid_to)

    @property
    def current(self) -> bool:
        return not self.forgotten and self.valid_to is None


class StoreMachine(RuleBasedStateMachine):
    """The store under random operations, next to a dictionary that says what it must hold."""

    store: ChromaStore  # set by the test (one store per test; one namespace per example)

    def __init__(self) -> None:
        super().__init__()
        self.ns = f"sm{next(_namespaces)}"
        self.ref: dict[str, Ref] = {}
        self.clock = BASE
        self.moments: list[datetime] = []
        self.sources = itertools.count()

    # -- helpers --------------------------------------------------------------------------------
    def tick(self) -> datetime:
        self.clock += timedelta(minutes=1)
        self.moments += [self.clock - timedelta(seconds=30), self.clock]
        return self.clock

    def ids(self, *, alive: bool | None = None, current: bool = False, level: Level | None = None) -> list[str]:
        return [  # in the order they were made: ids hash the namespace, which differs on replay
            i for i, r in self.ref.items()
            if (alive is None or r.forgotten != alive) and (not current or r.current)
            and (level is None or r.item.level == level)
        ]

    def new_item(self, level: Level, text: str, parents: tuple[str, ...] = ()) -> MemoryItem:
        at = self.tick()
        return MemoryItem.new(
            namespace=self.ns, level=level, text=text, source_id=f"src-{next(self.sources)}",
            ingested_at=at, valid_from=at, parents=parents,
        )

    def descendants(self, ids: list[str]) -> list[str]:
        """``ids`` and every live item derived from them, transitively (what forget cascades to)."""
        out, todo = set(ids), list(ids)
        while todo:
            x = todo.pop()
            for i, r in self.ref.items():
                if not r.forgotten and x in r.item.parents and i not in out:
                    out.add(i)
                    todo.append(i)
        return [i for i in self.ref if i in out]

    # -- writes ---------------------------------------------------------------------------------
    # Few rules, each drawing its variant: hypothesis enables a random subset of rules per example
    # ("swarm testing"), and with many narrow rules a short bounded run hardly reached forget.
    @initialize()
    def seed(self) -> None:
        """Three raw items and two facts derived from them, so every rule has something to act on."""
        for text in SENTENCES[:3]:
            self._add(self.new_item("raw", text))
        raws = self.ids(level="raw")
        self._add(self.new_item("fact", SENTENCES[3], (raws[0],)))
        self._add(self.new_item("fact", SENTENCES[4], (raws[0], raws[1])))

    def _add(self, item: MemoryItem) -> None:
        assert self.store.add(self.ns, [item]).added == (item.id,)
        self.ref[item.id] = Ref(item, item.valid_from, events=["add"])

    @rule(text=st.sampled_from(SENTENCES), level=st.sampled_from(["fact", "raw"]), data=st.data())
    def add(self, text: str, level: Level, data: st.DataObject) -> None:
        raws = self.ids(alive=True, level="raw")
        if level == "fact" and raws:
            parents = data.draw(st.lists(st.sampled_from(raws), min_size=1, max_size=2, unique=True), label="parents")
            self._add(self.new_item("fact", text, tuple(parents)))
        else:
            self._add(self.new_item("raw", text))

    @precondition(lambda self: self.ref)
    @rule(data=st.data(), how=st.sampled_from(["update", "unchanged", "invalidate"]), text=st.sampled_from(SENTENCES))
    def change(self, data: st.DataObject, how: str, text: str) -> None:
        """Re-add unchanged (a no-op), re-add with new text (an update), invalidate, or re-add a forgotten item."""
        ref = self.ref[data.draw(st.sampled_from(list(self.ref)), label="id")]
        if ref.forgotten:  # forgotten items come back only when added again, as new items
            if any(self.ref[p].forgotten for p in ref.item.parents):
                return  # its raw text is gone: nothing would re-derive it
            assert self.store.add(self.ns, [ref.item]).added == (ref.item.id,)
            ref.forgotten, ref.valid_to, ref.superseded_by, ref.version = False, None, None, 1
            ref.valid_from = ref.item.valid_from
            ref.events.append("add")
        elif how == "unchanged":
            before = self.store.ledger.count(self.ns)
            assert self.store.add(self.ns, [ref.item]).unchanged == (ref.item.id,)
            assert self.store.ledger.count(self.ns) == before
        elif how == "update":
            changed = ref.item.model_copy(update={"text": text + " (revised)"})
            if changed.text != ref.item.text:
                assert self.store.add(self.ns, [changed]).updated == (changed.id,)
                ref.item, ref.version = changed, ref.version + 1
                ref.events.append("update")
        elif ref.current:
            self.store.invalidate(self.ns, ref.item.id, reason="retracted")
            ref.valid_to = LATER  # the real now: after every moment of the virtual clock
            ref.events.append("invalidate")

    @precondition(lambda self: self.ref)
    @rule(data=st.data(), text=st.sampled_from(SENTENCES))
    def supersede(self, data: st.DataObject, text: str) -> None:
        """Supersede any item: a current one is replaced; a closed one is refused, a forgotten one not found."""
        facts = self.ids(level="fact")
        old = self.ref[data.draw(st.sampled_from(facts or list(self.ref)), label="old")]
        new = self.new_item(old.item.level, "Now: " + text, old.item.parents)
        before = self.store.ledger.count(self.ns)
        if old.forgotten or not old.current:
            with pytest.raises(NotFoundError if old.forgotten else MemoryStoreError):
                self.store.supersede(self.ns, old.item.id, new, reason="again")
            assert self.store.ledger.count(self.ns) == before
            return
        stored = self.store.supersede(self.ns, old.item.id, new, reason="changed")
        assert stored.id == new.id and stored.version == old.version + 1
        old.valid_to, old.superseded_by = new.valid_from, new.id
        old.events.append("supersede")
        self.ref[new.id] = Ref(new, new.valid_from, version=old.version + 1, events=["add"])

    @precondition(lambda self: self.ref)
    @rule(data=st.data())
    def forget(self, data: st.DataObject) -> None:
        """Forget one or two items (raw ones cascade to what was derived from them)."""
        wanted = data.draw(st.lists(st.sampled_from(list(self.ref)), min_size=1, max_size=2, unique=True),
                           label="ids")
        gone = [i for i in self.descendants(wanted) if not self.ref[i].forgotten]
        assert self.store.forget(self.ns, wanted, reason="asked to") == len(gone)
        for i in gone:
            self.ref[i].forgotten = True
            self.ref[i].events.append("forget")

    # -- reads ----------------------------------------------------------------------------------
    @rule(data=st.data(), what=st.sampled_from(["dense", "sparse", "hybrid", "as_of", "history"]))
    def read(self, data: st.DataObject, what: str) -> None:
        """Search in a mode, search as of a moment seen so far, or read an item's history."""
        if what == "as_of":
            self.check_as_of(data.draw(st.sampled_from(self.moments), label="as_of"))
        elif what == "history":
            self.check_history(self.ref[data.draw(st.sampled_from(list(self.ref)), label="id")])
        else:
            self.check_search(data.draw(st.sampled_from(SENTENCES), label="query"), what)

    def check_search(self, query: str, mode: str) -> None:
        hits = self.store.search(self.ns, query, k=100, mode=mode)  # type: ignore[arg-type]
        got = [h.item.id for h in hits]
        current = set(self.ids(current=True))
        assert len(got) == len(set(got)) and set(got) <= current, (mode, set(got) - current)
        if mode == "dense":
            assert set(got) == current
        for h in hits:
            ref = self.ref[h.item.id]
            assert (h.item.text, h.item.version, h.item.valid_to) == (ref.item.text, ref.version, None)

    def check_as_of(self, t: datetime) -> None:
        hits = self.store.search(self.ns, SENTENCES[0], k=100, mode="dense", filters=SearchFilters(as_of=t))
        assert {h.item.id for h in hits} == {i for i, r in self.ref.items() if r.valid_at(t)}, t

    def check_history(self, ref: Ref) -> None:
        entries = self.store.history(self.ns, ref.item.id)
        assert [e.event for e in entries] == ref.events
        if ref.forgotten and ref.events[-1] == "forget":
            texts = [t for e in entries for t in (e.before, e.after, e.reason) if t]
            assert not any(ref.item.text in t for t in texts), "a forgotten item's text stayed in its history"

    @invariant()
    def counts_agree(self) -> None:
        alive = [r for r in self.ref.values() if not r.forgotten]
        assert self.store.count(self.ns) == sum(r.current for r in alive)
        assert self.store.count(self.ns, include_invalid=True) == len(alive)


def test_the_store_agrees_with_the_reference_model(tmp_path: Path, embedder: CachedEmbedder) -> None:
    store = ChromaStore(Settings(data_dir=tmp_path / "data"), embedder)

    class Machine(StoreMachine):
        pass

    Machine.store = store
    try:
        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                derandomize=not LONG,
                database=None,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                print_blob=LONG,
            ),
        )
    finally:
        store.close()
