"""The store's seams on their own: sparse indexes (LRU budget, per-key locks, ledger catch-up) and hybrid re-checks."""

from __future__ import annotations

import threading

from memhelpers import StoreFactory
from test_store_contract import fact, raw_items

from agentrag.memory import ChromaStore, SearchFilters


def test_bm25_indexes_are_evicted_least_recently_used_first(make_store: StoreFactory, ns: str) -> None:
    store = make_store(memory={"bm25_budget_mb": 0.001})  # about 1 KB: room for one small index at most
    other = ns + "-b"
    store.add(ns, raw_items(ns))
    store.add(other, raw_items(other))
    assert store.search(ns, "tabby cat", k=1, mode="sparse")
    assert store.search(other, "tabby cat", k=1, mode="sparse")
    assert [key for key, _ in store.sparse.cached()] == [(other, "raw")] and store.sparse.evictions == 1
    assert store.search(ns, "tabby cat", k=1, mode="sparse")[0].item.text.startswith("I adopted")  # rebuilt
    assert [key for key, _ in store.sparse.cached()] == [(ns, "raw")] and store.sparse.evictions == 2


def test_a_budget_that_fits_keeps_every_index(make_store: StoreFactory, ns: str) -> None:
    store = make_store()
    for n in (ns, ns + "-b", ns + "-c"):
        store.add(n, raw_items(n))
        store.search(n, "ramen", k=1, mode="sparse")
    assert len(store.sparse.cached()) == 3 and store.sparse.evictions == 0


def test_one_namespace_s_index_lock_does_not_block_another(store: ChromaStore, ns: str) -> None:
    other = ns + "-b"
    store.add(ns, raw_items(ns))
    store.add(other, raw_items(other))
    done = threading.Event()

    def search_other() -> None:
        store.search(other, "hiking Alps", k=1, mode="sparse")
        done.set()

    with store.sparse.lock((ns, "raw")):  # as if ns's index were being rebuilt right now
        worker = threading.Thread(target=search_other)
        worker.start()
        assert done.wait(timeout=120)  # liveness, not speed: with one store-wide lock this never returns
    worker.join()


def test_bm25_only_hits_are_re_checked_for_validity(store: ChromaStore, ns: str) -> None:
    old = fact(ns, "Bob lives in Boston.", 0)
    store.add(ns, [old])
    store.invalidate(ns, old.id, reason="moved away")
    # a sparse index that trails the ledger (another worker's write not caught up yet) still offers it:
    store.sparse.search = lambda *a, **k: [(old.id, 9.9)]  # type: ignore[method-assign]
    assert store.search(ns, "Bob Boston", k=3, mode="sparse", filters=SearchFilters(levels=("fact",))) == []
    assert store.search(ns, "Bob Boston", k=3, mode="hybrid", filters=SearchFilters(levels=("fact",))) == []
    kept = store.search(
        ns, "Bob Boston", k=3, mode="sparse", filters=SearchFilters(levels=("fact",), include_invalid=True)
    )
    assert [h.item.id for h in kept] == [old.id]


def test_another_store_s_writes_reach_a_cached_index_through_the_ledger(make_store: StoreFactory, ns: str) -> None:
    reader, writer = make_store(), make_store()
    items = raw_items(ns)
    writer.add(ns, items[:2])
    assert reader.search(ns, "tabby cat Milo", k=1, mode="sparse")[0].item.id == items[0].id  # builds and caches
    writer.add(ns, items[2:])
    writer.supersede(
        ns, items[0].id, items[0].model_copy(update={"id": "r-new", "text": "Milo the cat ran away."}), reason="update"
    )
    found = [h.item.id for h in reader.search(ns, "cat Milo", k=5, mode="sparse")]
    assert found == ["r-new"]  # the closed raw item is masked by validity, the new one added by catch-up
    assert reader.search(ns, "nurse Boston", k=1, mode="sparse")[0].item.id == items[3].id
