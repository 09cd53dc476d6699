"""Memory "as of" a time on the event clock (when things happened).

Memory is bi-temporal: ``valid_from``/``valid_to`` follow the ingestion clock
(what memory held, ``SearchFilters.as_of``), ``event_time`` the world's clock.
Asking "where did Alice live in March 2023?" of facts from January and June is
an event-clock question: the January fact was superseded when the June one was
*ingested*, but in March it was still true. So the event view takes items that
happened by then, including superseded ones whose successor happened later, and
leaves out items invalidated without a successor (retracted, or chunks retired
from a shortened document). Items without an event time are not on this clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentrag.memory.records import as_utc
from agentrag.memory.store import MemoryStore, SearchFilters
from agentrag.types import Hit


def search_as_of_event(
    store: MemoryStore,
    namespace: str,
    query: str,
    *,
    when: datetime,
    k: int = 5,
    filters: SearchFilters | None = None,
    mode: Any = "hybrid",
) -> list[Hit]:
    """Best ``k`` items that were true at ``when`` on the event clock."""
    base = filters or SearchFilters()
    at = as_utc(when)
    upper = at if base.time_to is None else min(at, as_utc(base.time_to))
    wide = base.model_copy(update={"time_to": upper, "include_invalid": True, "as_of": None})
    fetched = store.search(namespace, query, k=min(max(3 * k, k + 10), 100), filters=wide, mode=mode)
    successors = {h.item.superseded_by for h in fetched if h.item.superseded_by}
    happened = {
        it.id: it.event_time is not None and as_utc(it.event_time) <= at
        for it in store.get(namespace, sorted(s for s in successors if s))
    }
    kept: list[Hit] = []
    for h in fetched:
        it = h.item
        replaced = it.superseded_by is None or happened.get(it.superseded_by, False)
        if it.valid_to is not None and not base.include_invalid and replaced:
            continue  # retracted, or replaced by something that had already happened
        kept.append(h.model_copy(update={"rank": len(kept) + 1}))
        if len(kept) == k:
            break
    return kept
