"""How a ``MemoryItem`` is laid out in a Chroma record, and back.

Chroma metadata holds only scalars, so times are stored as integer microseconds
since the epoch (exact round trip, and range-filterable), an open validity end
as a far-future sentinel (so "currently valid" is one ``$gt`` comparison), and
``parents``/``meta`` as JSON strings. Naive datetimes are taken to be UTC.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from agentrag.memory.store import SearchFilters
from agentrag.types import Level, MemoryItem

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OPEN_END_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z: "still valid"
_US = timedelta(microseconds=1)

Metadata = dict[str, str | int | float | bool | None]
Where = dict[str, Any]


def as_utc(value: datetime) -> datetime:
    """Aware UTC datetime (naive values are read as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_us(value: datetime) -> int:
    """Exact integer microseconds since the epoch."""
    return (as_utc(value) - EPOCH) // _US


def from_us(value: int) -> datetime:
    """Inverse of ``to_us``."""
    return EPOCH + timedelta(microseconds=int(value))


def normalise(item: MemoryItem) -> MemoryItem:
    """The item with every datetime as aware UTC, i.e. exactly what a read will return."""
    stamps = (item.ingested_at, item.valid_from, item.event_time, item.valid_to)
    if all(t is None or t.tzinfo is UTC for t in stamps):
        return item  # the common case (``utcnow`` defaults): no copy
    update: dict[str, Any] = {
        "ingested_at": as_utc(item.ingested_at),
        "valid_from": as_utc(item.valid_from),
    }
    if item.event_time is not None:
        update["event_time"] = as_utc(item.event_time)
    if item.valid_to is not None:
        update["valid_to"] = as_utc(item.valid_to)
    return item.model_copy(update=update)


def to_metadata(item: MemoryItem, *, new: bool = False) -> Metadata:
    """Chroma metadata for an item.

    For an update, absent optionals are sent as ``None``: Chroma merges metadata on
    upsert and deletes keys set to ``None``, so an update that drops a field really
    drops it. For a ``new`` record they are left out (fewer keys: faster inserts).
    """
    md: Metadata = {
        "ns": item.namespace,
        "level": item.level,
        "source_id": item.source_id,
        "position": item.position,
        "version": item.version,
        "ingested_us": to_us(item.ingested_at),
        "valid_from_us": to_us(item.valid_from),
        "valid_to_us": OPEN_END_US if item.valid_to is None else to_us(item.valid_to),
        "session_id": item.session_id,
        "speaker": item.speaker,
        "event_us": None if item.event_time is None else to_us(item.event_time),
        "superseded_by": item.superseded_by,
        "parents": json.dumps(list(item.parents)) if item.parents else None,
        "meta": json.dumps(item.meta, sort_keys=True) if item.meta else None,
    }
    return {k: v for k, v in md.items() if v is not None} if new else md


def from_record(item_id: str, document: str, md: Mapping[str, Any]) -> MemoryItem:
    """Rebuild the item from a Chroma id, document and metadata."""
    valid_to_us = int(md["valid_to_us"])
    return MemoryItem(
        id=item_id,
        namespace=str(md["ns"]),
        level=cast(Level, md["level"]),
        text=document,
        source_id=str(md["source_id"]),
        position=int(md["position"]),
        session_id=cast(str | None, md.get("session_id")),
        speaker=cast(str | None, md.get("speaker")),
        event_time=from_us(md["event_us"]) if md.get("event_us") is not None else None,
        ingested_at=from_us(md["ingested_us"]),
        valid_from=from_us(md["valid_from_us"]),
        valid_to=None if valid_to_us >= OPEN_END_US else from_us(valid_to_us),
        superseded_by=cast(str | None, md.get("superseded_by")),
        version=int(md["version"]),
        parents=tuple(json.loads(md["parents"])) if md.get("parents") else (),
        meta=json.loads(md["meta"]) if md.get("meta") else {},
    )


def same_content(a: MemoryItem, b: MemoryItem) -> bool:
    """Whether two versions of an item carry the same content (lifecycle fields ignored)."""
    fields = ("text", "level", "source_id", "position", "session_id", "speaker", "event_time", "parents", "meta")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


def content_diff(old: MemoryItem, new: MemoryItem) -> list[str]:
    """Names of the content fields that differ."""
    fields = ("text", "source_id", "position", "session_id", "speaker", "event_time", "parents", "meta")
    return [f for f in fields if getattr(old, f) != getattr(new, f)]


def matches(item: MemoryItem, filters: SearchFilters, now: datetime) -> bool:
    """Python twin of ``where`` (used to post-filter over-fetched dense results)."""
    if item.level not in filters.levels:
        return False
    if not filters.include_invalid and not item.is_valid_at(as_utc(filters.as_of or now)):
        return False
    if filters.speaker is not None and item.speaker != filters.speaker:
        return False
    if filters.session_id is not None and item.session_id != filters.session_id:
        return False
    if filters.source_id is not None and item.source_id != filters.source_id:
        return False
    if filters.time_from is not None or filters.time_to is not None:
        if item.event_time is None:
            return False
        if filters.time_from is not None and item.event_time < as_utc(filters.time_from):
            return False
        if filters.time_to is not None and item.event_time > as_utc(filters.time_to):
            return False
    return True


FILTERED_KEYS: dict[str, type] = {
    "valid_from_us": int,
    "valid_to_us": int,
    "event_us": int,
    "speaker": str,
    "session_id": str,
    "source_id": str,
}
"""Every metadata key ``where`` can filter on, with its type: the only keys Chroma needs to index."""


def where(filters: SearchFilters, now: datetime) -> Where | None:
    """Chroma ``where`` clause for the non-level filters (the level picks the collection)."""
    clauses: list[Where] = []
    if not filters.include_invalid:
        t = to_us(filters.as_of or now)
        clauses += [{"valid_from_us": {"$lte": t}}, {"valid_to_us": {"$gt": t}}]
    for key, value in (
        ("speaker", filters.speaker),
        ("session_id", filters.session_id),
        ("source_id", filters.source_id),
    ):
        if value is not None:
            clauses.append({key: {"$eq": value}})
    if filters.time_from is not None:
        clauses.append({"event_us": {"$gte": to_us(filters.time_from)}})
    if filters.time_to is not None:
        clauses.append({"event_us": {"$lte": to_us(filters.time_to)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def is_selective(filters: SearchFilters) -> bool:
    """Whether filters go beyond "currently valid" (then post-filtering may starve)."""
    return any(
        v is not None
        for v in (
            filters.speaker,
            filters.session_id,
            filters.source_id,
            filters.time_from,
            filters.time_to,
            filters.as_of,
        )
    )
