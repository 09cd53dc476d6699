"""Kill tests: a write interrupted at any stage, then re-run, ends exactly where an uninterrupted run ends.

The scenario touches every write path (add of every level, update with new parents,
supersede, invalidate, forget). For every N, the N-th write stage of the scenario
raises ``Killed`` (a ``BaseException``: nothing in the store may swallow it), the
store is dropped without ``close`` (a killed process saves nothing), a new store
on the same data directory re-runs the interrupted call and the rest of the
scenario. Items, history, provenance and BM25 contents must then equal the
uninterrupted run's; so must the BM25 index of an observer store that watched it
all from beside (it catches up from the ledger only).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentrag.memory import ChromaStore, SearchFilters
from agentrag.memory.embedder import CachedEmbedder
from agentrag.memory.records import OPEN_END_US
from agentrag.settings import Settings
from agentrag.types import LEVELS, MemoryItem

NS = "crash"
T0 = datetime(2024, 3, 1, tzinfo=UTC)


class Killed(BaseException):
    """The process died here."""


def _item(level: str, text: str, pos: int, parents: tuple[str, ...] = ()) -> MemoryItem:
    return MemoryItem.new(
        namespace=NS,
        level=level,
        text=text,
        source_id=f"src-{level}",
        position=pos,
        parents=parents,  # type: ignore[arg-type]
        event_time=T0 + timedelta(days=pos),
        valid_from=T0,
    )


RAW = [
    _item("raw", "Alice adopted a tabby cat named Milo.", 0),
    _item("raw", "Bob went hiking in the Alps and saw ibex.", 1),
    _item("raw", "Alice loves spicy miso ramen.", 2),
    _item("raw", "Bob works night shifts as a nurse in Boston.", 3),
]
F1 = _item("fact", "Bob lives in Boston.", 0, (RAW[3].id,))
F2 = _item("fact", "Alice has a cat.", 1, (RAW[0].id,))
E1 = _item("episode", "Alice and Bob talked about pets and work.", 0, (F1.id, F2.id))
F2B = F2.model_copy(update={"text": "Alice has a cat named Milo.", "parents": (RAW[0].id, RAW[2].id)})
F1B = _item("fact", "Bob lives in Denver.", 2, (RAW[3].id,))

OPS: list[tuple[str, Callable[[ChromaStore], Any]]] = [
    ("add raw", lambda s: s.add(NS, RAW)),
    ("add facts and episode", lambda s: s.add(NS, [F1, F2, E1])),
    ("update with new parents", lambda s: s.add(NS, [F2B])),
    ("supersede", lambda s: s.supersede(NS, F1.id, F1B, reason="moved", actor="refresher")),
    ("invalidate", lambda s: s.invalidate(NS, E1.id, reason="outdated")),
    ("forget", lambda s: s.forget(NS, [RAW[1].id], reason="asked to")),
]
ALL_IDS = [*(r.id for r in RAW), F1.id, F2.id, E1.id, F1B.id]


def _store(root: Path, embedder: CachedEmbedder) -> ChromaStore:
    return ChromaStore(Settings(data_dir=root), embedder)


def _bm25(store: ChromaStore) -> dict[str, dict[str, tuple[str, bool]]]:
    """What each level's BM25 index holds (after catching up): id -> (tokens, still valid)."""
    for level in LEVELS:
        store.search(NS, "Alice Bob cat", k=5, mode="sparse", filters=SearchFilters(levels=(level,)))
    return {
        lv: {i: (toks, vt == OPEN_END_US) for i, (toks, vt) in idx.live().items()}
        for (ns, lv), idx in store.sparse.cached()
        if ns == NS
    }


def _state(store: ChromaStore) -> dict[str, Any]:
    items = sorted(store.list(NS, include_invalid=True, limit=1000), key=lambda i: i.id)
    return {
        "items": [
            (i.id, i.level, i.text, i.version, i.superseded_by, i.valid_to is None, i.parents, i.valid_from)
            for i in items
        ],
        "superseded_valid_to": {i.id: i.valid_to for i in items if i.superseded_by},
        "history": {
            i: [(e.event, e.actor, e.reason, e.before, e.after, e.related_id) for e in store.history(NS, i)]
            for i in ALL_IDS
        },
        "provenance": sorted((e.src, e.dst, e.kind) for e in store.ledger.edges(NS)),
        "bm25": _bm25(store),
    }


def _run(store: ChromaStore, start: int = 0) -> None:
    for _, op in OPS[start:]:
        op(store)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, embedder: CachedEmbedder) -> tuple[dict[str, Any], int]:
    """The uninterrupted run's state, and how many write stages it passes through."""
    store = _store(tmp_path_factory.mktemp("reference"), embedder)
    stages: list[str] = []
    store.fault_hook = stages.append
    _run(store)
    state = _state(store)
    store.close()
    assert len(stages) == 21 and state["history"][F1.id][-1][0] == "supersede"
    return state, len(stages)


def _kill_at(n: int) -> Callable[[str], None]:
    seen = [0]

    def hook(stage: str) -> None:
        seen[0] += 1
        if seen[0] == n:
            raise Killed(f"killed before stage {stage!r} (#{n})")

    return hook


@pytest.mark.parametrize("n", range(1, 22))
def test_a_kill_at_any_write_stage_re_runs_to_the_uninterrupted_state(
    n: int, reference: tuple[dict[str, Any], int], tmp_path: Path, embedder: CachedEmbedder
) -> None:
    expected, _ = reference
    observer = _store(tmp_path, embedder)  # another worker on the same state, with its own BM25 cache
    _bm25(observer)
    victim = _store(tmp_path, embedder)
    victim.fault_hook = _kill_at(n)
    failed_op = None
    for i, (_, op) in enumerate(OPS):
        try:
            op(victim)
        except Killed:
            failed_op = i
            break
        _bm25(observer)  # the observer searches between calls, so its index is mid-stream when the kill lands
    assert failed_op is not None
    _bm25(observer)  # other workers keep searching while the write is half done
    victim.ledger.close()  # the process is gone: no close(), no snapshots
    survivor = _store(tmp_path, embedder)
    _run(survivor, failed_op)
    got = _state(survivor)
    assert got == expected
    assert _bm25(observer) == expected["bm25"]
    observer.close()
    survivor.close()
