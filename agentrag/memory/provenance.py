"""Provenance: a directed graph of where items came from and what replaced them.

Two edge kinds, both pointing from the newer to the older-or-source item's
point of view as it is read aloud:

* ``derived_from``: child -> parent (episode -> fact -> raw), from ``MemoryItem.parents``;
* ``superseded_by``: old -> new, written by ``supersede``.

Edges are persisted in the store's SQLite file (table ``provenance``, insert-or-ignore,
so replays are harmless) and loaded into a networkx ``MultiDiGraph`` (edge key = kind) per namespace on
first use; the in-memory graph is refreshed when the history log shows a change
made elsewhere (another process on the same data directory).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from agentrag.memory.history import Database
from agentrag.types import utcnow

if TYPE_CHECKING:
    import networkx as nx

log = logging.getLogger(__name__)

DERIVED_FROM = "derived_from"
SUPERSEDED_BY = "superseded_by"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS provenance (
    namespace TEXT NOT NULL,
    src       TEXT NOT NULL,
    dst       TEXT NOT NULL,
    kind      TEXT NOT NULL,
    at        TEXT NOT NULL,
    PRIMARY KEY (namespace, src, dst, kind)
);
CREATE INDEX IF NOT EXISTS provenance_dst ON provenance(namespace, dst);
"""


class ProvenanceGraph:
    """Persisted provenance edges plus a cached networkx view per namespace."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._graphs: dict[str, tuple[int, nx.MultiDiGraph]] = {}
        with db.transaction() as conn:
            conn.executescript(_SCHEMA)

    def add_edges(
        self,
        namespace: str,
        edges: Iterable[tuple[str, str, str]],
        *,
        before: int,
        after: int,
        reparent: Sequence[str] = (),
    ) -> None:
        """Persist ``(src, dst, kind)`` edges and patch the cached graph if it was current at ``before``.

        ``reparent`` names items whose parents changed: their old ``derived_from``
        edges are dropped first. ``before``/``after`` are the namespace's history
        generation around the write; a cache that missed someone else's write is dropped.
        """
        rows = [(namespace, src, dst, kind, utcnow().isoformat()) for src, dst, kind in edges]
        with self.db.transaction() as conn:
            for src in reparent:
                conn.execute(
                    "DELETE FROM provenance WHERE namespace = ? AND src = ? AND kind = ?",
                    (namespace, src, DERIVED_FROM),
                )
            conn.executemany(
                "INSERT OR IGNORE INTO provenance (namespace, src, dst, kind, at) VALUES (?, ?, ?, ?, ?)", rows
            )

            def change(g: nx.MultiDiGraph) -> None:
                for src in reparent:
                    if src in g:
                        g.remove_edges_from(
                            [
                                (src, dst, DERIVED_FROM)
                                for dst in list(g.successors(src))
                                if g.has_edge(src, dst, key=DERIVED_FROM)
                            ]
                        )
                g.add_edges_from((r[1], r[2], r[3]) for r in rows)

            self._patch(namespace, before, after, change)

    def remove_nodes(self, namespace: str, ids: Sequence[str], *, before: int, after: int) -> None:
        """Drop every edge touching ``ids`` (used by ``forget``, the only hard delete)."""
        with self.db.transaction() as conn:
            for i in range(0, len(ids), 400):
                chunk = list(ids[i : i + 400])
                marks = ",".join("?" * len(chunk))
                conn.execute(
                    f"DELETE FROM provenance WHERE namespace = ? AND (src IN ({marks}) OR dst IN ({marks}))",
                    (namespace, *chunk, *chunk),
                )
            self._patch(namespace, before, after, lambda g: g.remove_nodes_from(ids))

    def _patch(self, namespace: str, before: int, after: int, change: Callable[[nx.MultiDiGraph], object]) -> None:
        cached = self._graphs.pop(namespace, None)
        if cached is not None and cached[0] == before:
            change(cached[1])
            self._graphs[namespace] = (after, cached[1])

    def graph(self, namespace: str, generation: int) -> nx.MultiDiGraph:
        """The namespace's graph, reloaded from SQLite when ``generation`` moved on without us."""
        with self.db.lock:
            cached = self._graphs.get(namespace)
            if cached is not None and cached[0] == generation:
                return cached[1]
            import networkx  # on first use: a provenance walk, not every command that opens memory

            graph: nx.MultiDiGraph = networkx.MultiDiGraph()
            rows = self.db.conn.execute(
                "SELECT src, dst, kind FROM provenance WHERE namespace = ? ORDER BY rowid", (namespace,)
            ).fetchall()
            graph.add_edges_from(rows)  # (src, dst, key=kind)
            self._graphs[namespace] = (generation, graph)
            log.debug("loaded provenance graph of %r: %d edges", namespace, graph.number_of_edges())
            return graph

    @staticmethod
    def ancestors(graph: nx.MultiDiGraph, item_id: str) -> list[str]:
        """Ids the item was derived from, transitively, nearest first (breadth-first)."""
        return _walk(graph, item_id, DERIVED_FROM, forward=True)

    @staticmethod
    def successors(graph: nx.MultiDiGraph, item_id: str) -> list[str]:
        """The chain of items that replaced this one, oldest first."""
        return _walk(graph, item_id, SUPERSEDED_BY, forward=True)

    @staticmethod
    def predecessors(graph: nx.MultiDiGraph, item_id: str) -> list[str]:
        """Items this one replaced, transitively, nearest first."""
        return _walk(graph, item_id, SUPERSEDED_BY, forward=False)


def _walk(graph: nx.MultiDiGraph, start: str, kind: str, *, forward: bool) -> list[str]:
    if start not in graph:
        return []
    out: list[str] = []
    seen = {start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        nbrs = graph.successors(node) if forward else graph.predecessors(node)
        for nxt in nbrs:
            has = graph.has_edge(node, nxt, key=kind) if forward else graph.has_edge(nxt, node, key=kind)
            if not has or nxt in seen:
                continue
            seen.add(nxt)
            out.append(nxt)
            queue.append(nxt)
    return out
