"""The memory page's data: a namespace's items by level, and provenance and history per item."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from agentrag.memory.namespaces import validate_namespace
from agentrag.memory.store import Explanation, MemoryStore
from agentrag.pages import svg
from agentrag.types import LEVELS, Level, MemoryItem

LAYER = {"episode": 0, "fact": 1, "raw": 2}
MAX_PANELS = 150


@dataclass
class MemoryView:
    """Items per level (capped), counts, and an explanation for each item that gets a panel."""

    namespace: str
    items: dict[Level, list[MemoryItem]]
    counts: dict[Level, tuple[int, int]]
    """Per level: (currently valid, all including superseded)."""
    panels: dict[str, Explanation]
    focus: str | None


def interesting(item: MemoryItem) -> int:
    """Sort key: superseded or superseding items first, then derived ones, then raw text."""
    if item.superseded_by or item.valid_to:
        return 0
    return 1 if item.parents else 2


def build_memory_view(memory: MemoryStore, namespace: str, limit: int = 200, focus: str | None = None) -> MemoryView:
    """Gather up to ``limit`` items per level (superseded ones included) and their explanations."""
    validate_namespace(namespace)
    items = {lvl: memory.list(namespace, lvl, limit=limit, include_invalid=True) for lvl in LEVELS}
    counts = {lvl: (memory.count(namespace, lvl), memory.count(namespace, lvl, include_invalid=True)) for lvl in LEVELS}
    every = [i for lvl in LEVELS for i in items[lvl]]
    chosen = sorted(every, key=interesting)[:MAX_PANELS]
    if focus and focus not in {i.id for i in chosen}:
        chosen = [*memory.get(namespace, [focus]), *chosen]
    panels = {i.id: memory.explain(namespace, i.id) for i in chosen}
    if focus is None and chosen:
        superseded = [i for i in chosen if i.superseded_by]
        focus = (superseded or [i for i in chosen if i.level == "fact"] or chosen)[0].id
    return MemoryView(namespace, items, counts, panels, focus)


def short(text: str, n: int = 26) -> str:
    """A node label: the text's start."""
    return text if len(text) <= n else text[: n - 1] + "…"


def provenance_svg(ex: Explanation, others: dict[str, Explanation] | None = None) -> str:
    """One item's provenance: what it was derived from down to raw text, and what it replaced / was replaced by.

    ``others`` (explanations of other items) adds the sources of its predecessors and successors.
    """
    chain = [*ex.supersedes, ex.item, *ex.superseded_by]
    known: dict[str, MemoryItem] = {}
    sources = [d for c in chain for d in (others or {}).get(c.id, ex).derived_from] if others else []
    for it in [*chain, *ex.derived_from, *sources]:
        known.setdefault(it.id, it)
    used = sorted({LAYER[i.level] for i in known.values()})
    layer = {i.id: used.index(LAYER[i.level]) for i in known.values()}
    nodes = []
    for it in known.values():
        classes: tuple[str, ...] = (it.level,)
        if it.valid_to is not None:
            classes += ("invalid",)
        if it.id == ex.item.id:
            classes += ("focus",)
        state = "superseded" if it.superseded_by else ("closed" if it.valid_to else "valid")
        nodes.append(svg.Node(it.id, f"{it.level} · {it.id[:8]}", sub=short(it.text), classes=classes,
                              href=f"#item-{it.id}", title=f"{it.level} {it.id} ({state}): {it.text}"))
    edges = [svg.Edge(i.id, p, label="") for i in known.values() for p in i.parents if p in known]
    edges += [svg.Edge(a.id, b.id, classes=("supersede",))
              for a, b in itertools.pairwise(chain)]
    return svg.render(nodes, edges, layer=layer, css_class="graph prov-graph",
                      title=f"provenance of {ex.item.id}")
