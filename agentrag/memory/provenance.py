"""Provenance: a directed graph of where items came from and what replaced them.

Two edge kinds, both pointing from the newer to the older-or-source item's
point of view as it is read aloud:

* ``derived_from``: child -> parent (episode -> fact -> raw), from ``MemoryItem.parents``;
* ``superseded_by``: old -> new, written by ``supersede``.

Edges live in the ledger (``agentrag.ledger``), written in the same transaction
as the history entries of the change that made them. This module keeps a
networkx ``MultiDiGraph`` (edge key = kind) per namespace, reloaded whenever the
namespace's ledger sequence moved (a write by this or any other worker).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import networkx as nx

from agentrag.ledger import DERIVED_FROM, SUPERSEDED_BY, Ledger

log = logging.getLogger(__name__)

__all__ = ["DERIVED_FROM", "SUPERSEDED_BY", "ProvenanceGraph"]


class ProvenanceGraph:
    """A cached networkx view of the ledger's provenance edges, per namespace."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._graphs: dict[str, tuple[int, nx.MultiDiGraph]] = {}
        self._lock = threading.Lock()

    def graph(self, namespace: str) -> nx.MultiDiGraph:
        """The namespace's graph as of the ledger's latest sequence number."""
        generation = self.ledger.last_seq(namespace)
        cached = self._graphs.get(namespace)
        if cached is not None and cached[0] == generation:
            return cached[1]
        import networkx  # on first use: a provenance walk, not every command that opens memory

        graph: nx.MultiDiGraph = networkx.MultiDiGraph()
        graph.add_edges_from((e.src, e.dst, e.kind) for e in self.ledger.edges(namespace))
        with self._lock:
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
