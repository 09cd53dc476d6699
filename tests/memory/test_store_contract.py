"""The MemoryStore contract, run against embedded Chroma and a real Chroma server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from memhelpers import FIXTURES, StoreFactory

from agentrag.errors import InputError, MemoryStoreError, NamespaceError
from agentrag.ledger import content_hash
from agentrag.memory import ChromaStore, MemoryStore, SearchFilters
from agentrag.memory.loaders import locomo_items
from agentrag.types import MemoryItem

T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)

TURNS = [
    ("alice", "s1", "I adopted a tabby cat named Milo from the shelter last spring."),
    ("bob", "s1", "We went hiking in the Swiss Alps in July and saw ibex."),
    ("alice", "s2", "My favourite food is spicy miso ramen."),
    ("bob", "s2", "I work night shifts as a nurse at a hospital in Boston."),
]


def raw_items(ns: str, source: str = "chat") -> list[MemoryItem]:
    return [
        MemoryItem.new(
            namespace=ns,
            level="raw",
            text=text,
            source_id=source,
            position=i,
            speaker=speaker,
            session_id=session,
            event_time=T0 + timedelta(days=i),
            meta={"dia_id": f"D1:{i + 1}"},
        )
        for i, (speaker, session, text) in enumerate(TURNS)
    ]


def fact(ns: str, text: str, position: int, parents: tuple[str, ...] = ()) -> MemoryItem:
    return MemoryItem.new(namespace=ns, level="fact", text=text, source_id="facts", position=position, parents=parents)


def test_is_a_memory_store(store: ChromaStore) -> None:
    assert isinstance(store, MemoryStore)


def test_add_then_get_round_trips_every_field(store: ChromaStore, ns: str) -> None:
    items = raw_items(ns)
    res = store.add(ns, items)
    assert res.added == tuple(i.id for i in items) and not res.unchanged and not res.updated
    got = store.get(ns, [items[2].id, items[0].id, "r-unknown"])
    assert [g.id for g in got] == [items[2].id, items[0].id]
    assert got[0] == items[2] and got[1] == items[0]
    assert store.count(ns) == 4 and store.count(ns, "raw") == 4 and store.count(ns, "fact") == 0
    assert [i.id for i in store.list(ns, "raw")] == [i.id for i in items]


def test_naive_datetimes_are_read_as_utc(store: ChromaStore, ns: str) -> None:
    naive = MemoryItem.new(namespace=ns, level="raw", text="naive time", source_id="n", event_time=datetime(2024, 1, 2))
    store.add(ns, [naive])
    assert store.get(ns, [naive.id])[0].event_time == datetime(2024, 1, 2, tzinfo=UTC)


def test_re_adding_is_idempotent_and_logged_once(store: ChromaStore, ns: str) -> None:
    items = raw_items(ns)
    store.add(ns, items)
    again = store.add(ns, raw_items(ns))  # freshly built, new ingested_at: still the same records
    assert again.unchanged == tuple(i.id for i in items) and not again.added and not again.updated
    assert store.count(ns) == 4
    assert [e.event for e in store.history(ns, items[0].id)] == ["add"]


def test_changed_content_is_an_update_with_before_and_after(store: ChromaStore, ns: str) -> None:
    item = raw_items(ns)[0]
    store.add(ns, [item])
    changed = item.model_copy(update={"text": "I adopted two cats, Milo and Otis."})
    res = store.add(ns, [changed], actor="tester")
    assert res.updated == (item.id,)
    stored = store.get(ns, [item.id])[0]
    assert stored.text == changed.text and stored.version == 2 and stored.ingested_at == item.ingested_at
    last = store.history(ns, item.id)[-1]
    assert (last.event, last.before, last.after, last.actor) == ("update", item.text, changed.text, "tester")


def test_search_modes_and_levels(store: ChromaStore, ns: str) -> None:
    items = raw_items(ns)
    f = fact(ns, "Alice owns a cat called Milo.", 0, parents=(items[0].id,))
    store.add(ns, [*items, f])
    for mode in ("dense", "sparse", "hybrid"):
        hits = store.search(ns, "Milo the cat", k=2, mode=mode)
        assert hits and hits[0].item.id in (items[0].id, f.id), mode
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    only_facts = store.search(ns, "Milo the cat", k=5, filters=SearchFilters(levels=("fact",)))
    assert [h.item.id for h in only_facts] == [f.id]
    raw = store.search(ns, "Milo the cat", k=5, filters=SearchFilters(levels=("raw",)))
    assert f.id not in {h.item.id for h in raw} and raw[0].item.id == items[0].id
    hybrid = store.search(ns, "hiking in the Alps", k=1)[0]
    assert hybrid.item.id == items[1].id
    assert hybrid.dense_score is not None and hybrid.sparse_score is not None and hybrid.score > 0


def test_interpolation_fusion_is_configurable(make_store: StoreFactory, ns: str) -> None:
    from agentrag.settings import RetrievalConfig

    store = make_store(retrieval=RetrievalConfig(fusion="interpolate", alpha=0.7))
    store.add(ns, raw_items(ns))
    top = store.search(ns, "ramen noodles", k=2)
    assert top[0].item.text.endswith("miso ramen.") and 0.0 < top[0].score <= 1.0


def test_filters(store: ChromaStore, ns: str) -> None:
    items = raw_items(ns)
    store.add(ns, items)
    for mode in ("dense", "sparse", "hybrid"):
        by_speaker = store.search(ns, "cat hiking ramen nurse", k=10, mode=mode, filters=SearchFilters(speaker="bob"))
        assert by_speaker and {h.item.speaker for h in by_speaker} == {"bob"}, mode
        by_session = store.search(ns, "cat hiking ramen nurse", k=10, mode=mode, filters=SearchFilters(session_id="s2"))
        assert by_session and {h.item.session_id for h in by_session} == {"s2"}, mode
        window = SearchFilters(time_from=T0 + timedelta(days=1), time_to=T0 + timedelta(days=2))
        timed = store.search(ns, "cat hiking ramen nurse", k=10, mode=mode, filters=window)
        assert {h.item.id for h in timed} <= {items[1].id, items[2].id} and timed, mode
        none = store.search(ns, "cat", k=10, mode=mode, filters=SearchFilters(source_id="elsewhere"))
        assert none == [], mode


def test_supersede_keeps_the_old_text_reachable(store: ChromaStore, ns: str) -> None:
    raw = raw_items(ns)
    store.add(ns, raw)
    old = fact(ns, "Bob works as a nurse in Boston.", 0, parents=(raw[3].id,))
    store.add(ns, [old])
    new = fact(ns, "Bob works as a nurse in Denver.", 1, parents=(raw[3].id,))
    stored = store.supersede(ns, old.id, new, reason="moved to Denver", actor="refresher")
    assert stored.id == new.id and stored.version == 2
    closed = store.get(ns, [old.id])[0]
    assert closed.superseded_by == new.id and closed.valid_to == stored.valid_from
    found = store.search(ns, "where does Bob work as a nurse", k=5, filters=SearchFilters(levels=("fact",)))
    assert [h.item.id for h in found] == [new.id]
    events = [(e.event, e.before, e.after, e.related_id) for e in store.history(ns, old.id)]
    assert events == [("add", None, old.text, None), ("supersede", old.text, new.text, new.id)]
    why = store.explain(ns, old.id)
    assert [i.text for i in why.superseded_by] == [new.text]
    assert [i.text for i in store.explain(ns, new.id).supersedes] == [old.text]
    # Re-running the same supersede is safe; superseding the old item again with another is refused.
    assert store.supersede(ns, old.id, new, reason="moved to Denver").id == new.id
    assert [e.event for e in store.history(ns, old.id)] == ["add", "supersede"]
    with pytest.raises(MemoryStoreError, match="already superseded"):
        store.supersede(ns, old.id, fact(ns, "Bob lives in Austin.", 2), reason="again")
    # Re-ingesting the old fact does not bring it back.
    assert store.add(ns, [old]).unchanged == (old.id,)
    assert store.get(ns, [old.id])[0].valid_to is not None


def test_as_of_search_sees_the_past(store: ChromaStore, ns: str) -> None:
    old = fact(ns, "The office wifi password is tulip42.", 0)
    store.add(ns, [old])
    before = datetime.now(UTC)
    new = fact(ns, "The office wifi password is orchid77.", 1)
    store.supersede(ns, old.id, new, reason="rotated")
    for mode in ("dense", "sparse", "hybrid"):
        now_hits = store.search(ns, "office wifi password", k=5, mode=mode)
        assert [h.item.id for h in now_hits] == [new.id], mode
        past = store.search(ns, "office wifi password", k=5, mode=mode, filters=SearchFilters(as_of=before))
        assert [h.item.id for h in past] == [old.id], mode
        both = store.search(ns, "office wifi password", k=5, mode=mode, filters=SearchFilters(include_invalid=True))
        assert {h.item.id for h in both} == {old.id, new.id}, mode
    assert store.count(ns) == 1 and store.count(ns, include_invalid=True) == 2
    assert [i.id for i in store.list(ns, include_invalid=True)] == [old.id, new.id]


def test_invalidate_closes_without_successor(store: ChromaStore, ns: str) -> None:
    f = fact(ns, "Carol is allergic to peanuts.", 0)
    store.add(ns, [f])
    closed = store.invalidate(ns, f.id, reason="was a joke", actor="user")
    assert closed.valid_to is not None and closed.superseded_by is None
    assert store.search(ns, "peanut allergy", k=3) == []
    assert store.invalidate(ns, f.id, reason="again") == store.get(ns, [f.id])[0]
    entry = store.history(ns, f.id)[-1]
    assert (entry.event, entry.before, entry.reason, entry.actor) == ("invalidate", f.text, "was a joke", "user")


def test_explain_walks_episode_fact_raw(store: ChromaStore, ns: str) -> None:
    raw = raw_items(ns)
    f1 = fact(ns, "Alice has a cat named Milo.", 0, parents=(raw[0].id,))
    f2 = fact(ns, "Alice loves ramen.", 1, parents=(raw[2].id,))
    ep = MemoryItem.new(
        namespace=ns,
        level="episode",
        text="Alice talked about her cat and food.",
        source_id="episodes",
        parents=(f1.id, f2.id),
    )
    store.add(ns, [*raw, f1, f2, ep])
    why = store.explain(ns, ep.id)
    assert why.item.id == ep.id
    assert [i.id for i in why.derived_from] == [f1.id, f2.id, raw[0].id, raw[2].id]
    assert why.history[0].event == "add"
    assert store.stats(ns)["provenance_edges"] == 4


def test_forget_is_the_only_hard_delete_and_is_logged(store: ChromaStore, ns: str) -> None:
    items = raw_items(ns)
    f = fact(ns, "Alice has a cat named Milo.", 0, parents=(items[0].id,))
    store.add(ns, [*items, f])
    # cascade=False keeps the derived fact (the cascade is tested in tests/reliability/test_forget.py)
    assert store.forget(ns, [items[0].id, "r-nope"], reason="user asked", cascade=False) == 1
    assert store.get(ns, [items[0].id]) == [] and store.count(ns, "raw") == 3
    assert all(h.item.id != items[0].id for h in store.search(ns, "tabby cat Milo shelter", k=10))
    assert [e.id for e in store.explain(ns, f.id).derived_from] == []
    entry = store.history(ns, items[0].id)[-1]
    # the tombstone: id, content hash, reason; never the text
    assert (entry.event, entry.before, entry.reason) == ("forget", content_hash(items[0].text), "user asked")
    assert store.forget(ns, [items[0].id], reason="again") == 0
    with pytest.raises(MemoryStoreError):
        store.explain(ns, items[0].id)


ADVERSARIAL = [
    "",
    " ",
    "a/b",
    "../b",
    "..",
    ".hidden",
    "a\\b",
    "~root",
    "*",
    '{"$ne": "x"}',
    "$ne",
    "a OR 1=1",
    "ns'; DROP TABLE history;--",
    "a\x00b",
    "a\nb",
    "tab\tns",
    "x" * 129,
    "a b",
    "ns=b",
    "ns\u200bb",
]


def test_namespace_isolation(store: ChromaStore, ns: str) -> None:
    other = ns + "-other"
    items = raw_items(ns)
    store.add(ns, items)
    assert store.get(other, [i.id for i in items]) == []
    for mode in ("dense", "sparse", "hybrid"):
        assert store.search(other, "cat", k=10, mode=mode) == []
    assert store.list(other) == [] and store.count(other) == 0 and store.history(other, items[0].id) == []
    with pytest.raises(MemoryStoreError):
        store.explain(other, items[0].id)
    assert store.forget(other, [items[0].id], reason="x") == 0 and store.count(ns) == 4
    with pytest.raises(MemoryStoreError):
        store.supersede(other, items[0].id, fact(other, "x", 0), reason="x")
    # Same source and position in another namespace is a different record.
    theirs = raw_items(other)
    store.add(other, theirs)
    assert {i.id for i in theirs}.isdisjoint({i.id for i in items})
    hits = store.search(ns, "cat hiking ramen nurse", k=10)
    assert hits and {h.item.namespace for h in hits} == {ns}
    with pytest.raises(NamespaceError, match="belongs to namespace"):
        store.add(ns, [theirs[0]])


@pytest.mark.parametrize("bad", ADVERSARIAL, ids=repr)
def test_adversarial_namespaces_are_refused_everywhere(store: ChromaStore, bad: str) -> None:
    item = MemoryItem(id="r-x", namespace=bad, level="raw", text="t", source_id="s")
    calls = [
        lambda: store.add(bad, [item]),
        lambda: store.get(bad, ["r-x"]),
        lambda: store.list(bad),
        lambda: store.count(bad),
        lambda: store.search(bad, "q"),
        lambda: store.history(bad, "r-x"),
        lambda: store.explain(bad, "r-x"),
        lambda: store.forget(bad, ["r-x"], reason="r"),
        lambda: store.invalidate(bad, "r-x", reason="r"),
        lambda: store.supersede(bad, "r-x", item, reason="r"),
    ]
    for call in calls:
        with pytest.raises(NamespaceError):
            call()


@pytest.mark.parametrize(
    ("text", "match"),
    [("", "empty"), ("   \n", "empty"), ("x" * 20_001, "limit"), ("PK\x03\x04\x00binary", "binary")],
    ids=["empty", "blank", "huge", "binary"],
)
def test_bad_text_is_refused_before_anything_is_written(store: ChromaStore, ns: str, text: str, match: str) -> None:
    good = raw_items(ns)[0]
    bad = MemoryItem.new(namespace=ns, level="raw", text=text, source_id="bad")
    with pytest.raises(InputError, match=match):
        store.add(ns, [good, bad])
    assert store.count(ns, include_invalid=True) == 0 and store.history(ns, good.id) == []
    with pytest.raises(InputError):
        store.search(ns, text or " ")


def test_locomo_conversation_ingested_twice_keeps_counts(store: ChromaStore, ns: str) -> None:
    items = locomo_items(FIXTURES / "locomo_conv26_excerpt.json", ns)
    first = store.add(ns, items, actor="loader")
    assert len(first.added) == len(items) == 58
    counts = (store.count(ns, "raw"), store.count(ns, include_invalid=True))
    second = store.add(ns, locomo_items(FIXTURES / "locomo_conv26_excerpt.json", ns), actor="loader")
    assert not second.added and len(second.unchanged) == 58
    assert (store.count(ns, "raw"), store.count(ns, include_invalid=True)) == counts == (58, 58)
    hit = store.search(ns, "When did Caroline go to the LGBTQ support group?", k=3)
    assert "D1:3" in {h.item.meta["dia_id"] for h in hit}


def test_a_second_store_on_the_same_data_sees_the_first_ones_writes(make_store: StoreFactory, ns: str) -> None:
    a, b = make_store(), make_store()
    items = raw_items(ns)
    a.add(ns, items[:2])
    assert b.search(ns, "hiking Alps", k=1, mode="sparse")[0].item.id == items[1].id  # b loads BM25 now
    a.add(ns, items[2:])
    assert b.search(ns, "miso ramen", k=1, mode="sparse")[0].item.id == items[2].id  # and notices a's write
    a.forget(ns, [items[2].id], reason="gone")
    assert all(h.item.id != items[2].id for h in b.search(ns, "miso ramen", k=3, mode="sparse"))
    assert [e.event for e in b.history(ns, items[2].id)] == ["add", "forget"]


def test_reopened_store_keeps_everything(make_store: StoreFactory, ns: str) -> None:
    first = make_store()
    raw = raw_items(ns)
    old = fact(ns, "Bob lives in Boston.", 0, parents=(raw[3].id,))
    first.add(ns, [*raw, old])
    first.supersede(ns, old.id, fact(ns, "Bob lives in Denver.", 1), reason="moved")
    first.close()
    again = make_store()
    why = again.explain(ns, old.id)
    assert [i.text for i in why.derived_from] == [raw[3].text]
    assert [i.text for i in why.superseded_by] == ["Bob lives in Denver."]
    assert again.search(ns, "where does Bob live", k=1, filters=SearchFilters(levels=("fact",)))[0].item.text == (
        "Bob lives in Denver."
    )


def test_bm25_snapshot_is_reused_and_caught_up(
    make_store: StoreFactory, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentrag.memory import sparse

    monkeypatch.setattr(sparse, "SNAPSHOT_MIN_DOCS", 1)  # snapshot even this small index
    first = make_store()
    items = raw_items(ns)
    first.add(ns, items[:3])
    assert first.search(ns, "hiking Alps", k=1, mode="sparse")[0].item.id == items[1].id
    first.close()
    snapshots = list((first._root / "bm25").glob("*.npz"))
    assert len(snapshots) == 1
    writer = make_store()
    writer.add(ns, items[3:])  # changes after the snapshot ...
    writer.forget(ns, [items[0].id], reason="gone")
    reader = make_store()  # ... are replayed from the history log into the loaded snapshot
    assert reader.search(ns, "nurse Boston", k=1, mode="sparse")[0].item.id == items[3].id
    assert reader.search(ns, "tabby cat Milo", k=3, mode="sparse") == []
    assert reader.stats(ns)["bm25"]["raw"]["docs"] == 3


def test_updating_parents_rewires_provenance(store: ChromaStore, ns: str) -> None:
    raw = raw_items(ns)
    f = fact(ns, "Alice has a cat.", 0, parents=(raw[0].id,))
    store.add(ns, [*raw, f])
    store.add(
        ns, [f.model_copy(update={"text": "Alice has a cat and likes ramen.", "parents": (raw[0].id, raw[2].id)})]
    )
    assert [i.id for i in store.explain(ns, f.id).derived_from] == [raw[0].id, raw[2].id]
    store.add(ns, [f.model_copy(update={"text": "Alice likes ramen.", "parents": (raw[2].id,)})])
    assert [i.id for i in store.explain(ns, f.id).derived_from] == [raw[2].id]


def test_a_crashed_add_is_safe_to_re_run(store: ChromaStore, ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from chromadb.api.models.Collection import Collection

    items = raw_items(ns)
    real_upsert = Collection.upsert

    def crash(self: Collection, *args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated crash between the history log and Chroma")

    monkeypatch.setattr(Collection, "upsert", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        store.add(ns, items)
    assert store.count(ns) == 0  # nothing reached Chroma ...
    assert [e.event for e in store.history(ns, items[0].id)] == ["add"]  # ... but the intent is on record
    monkeypatch.setattr(Collection, "upsert", real_upsert)
    assert store.add(ns, items).added == tuple(i.id for i in items)
    assert store.count(ns) == 4 and [e.event for e in store.history(ns, items[0].id)] == ["add"]
