"""The evidence pool (RetroRAG): numbered items whose status later evidence may change.

This module holds the pure pool operations; the graph nodes that call the
Judge to decide revisions live beside the other agents.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentrag.types import Evidence, Hit

USABLE = ("active", "inferred")


def add_hits(pool: Sequence[Evidence], hits: Sequence[Hit]) -> list[Evidence]:
    """Append hits not yet in the pool as active evidence ``E<n>``; ids stay stable across rounds."""
    out = list(pool)
    known = {e.item_id for e in out if e.item_id}
    for hit in hits:
        if hit.item.id in known:
            continue
        known.add(hit.item.id)
        out.append(Evidence(id=f"E{len(out) + 1}", text=hit.item.text, item_id=hit.item.id))
    return out


def usable(pool: Sequence[Evidence]) -> list[Evidence]:
    """Evidence an answer may rest on: active items and attributed inferences."""
    return [e for e in pool if e.status in USABLE]
