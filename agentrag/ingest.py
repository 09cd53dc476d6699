"""Normalise what users add (strings, documents, chat messages, files) into raw memory items.

Input is checked here, before anything is written: empty, binary or oversized
input fails with an ``InputError`` and memory is untouched. Source ids default
to a content hash, so adding the same text twice is a no-op.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentrag.errors import InputError
from agentrag.memory.chunking import chunk_text
from agentrag.memory.inputs import check_text as check_unicode_text
from agentrag.memory.loaders import record_fields
from agentrag.types import MemoryItem

log = logging.getLogger(__name__)


class Document(BaseModel):
    """One document or one chat turn to remember."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    source_id: str | None = None
    title: str | None = None
    session_id: str | None = None
    speaker: str | None = None
    event_time: datetime | None = None
    meta: dict[str, str] = Field(default_factory=dict)
    chunk: bool = True
    """Split long text into chunks (documents); chat turns are kept whole."""

    @field_validator("event_time")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        """Convert to UTC now: a time with no UTC equivalent is a 422 here, not an overflow mid-write."""
        if value is None:
            return None
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError(f"time {value.isoformat()} is out of range once converted to UTC") from exc


def check_text(text: str, where: str, max_chars: int) -> str:
    """Refuse empty, binary, non-Unicode or oversized text, naming where it came from.

    The same rules the store applies to each item (``memory.inputs``), checked
    before the ingest graph starts, so a refused input leaves no checkpoint either.
    """
    if not isinstance(text, str):
        raise InputError(f"{where}: text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InputError(f"{where}: text is empty")
    if "\x00" in text:
        raise InputError(f"{where}: text contains NUL bytes; is it a binary file?")
    if len(text) > max_chars:
        raise InputError(f"{where}: text has {len(text):,} characters; the limit is {max_chars:,} (max_input_chars)")
    check_unicode_text(text, what=f"{where}: text", max_chars=max_chars)
    return text


def check_raw_items(items: Iterable[MemoryItem], max_item_chars: int) -> None:
    """Refuse items the store would refuse, before a graph run starts (and checkpoints them)."""
    for item in items:
        check_unicode_text(item.text, what=f"text of item {item.id}", max_chars=max_item_chars)


def _digest(text: str) -> str:
    return "doc-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def documents_from(
    data: str | Document | dict[str, Any] | Iterable[str | Document | dict[str, Any]],
    *,
    source_id: str | None = None,
    max_chars: int = 2_000_000,
) -> list[Document]:
    """Accept a string, a ``Document``, a message dict (role/speaker + content) or a list of them."""
    if isinstance(data, str | Document | dict):
        many: list[Any] = [data]
    elif isinstance(data, Iterable) and not isinstance(data, bytes | bytearray | memoryview):
        many = list(data)
    else:
        raise InputError(f"expected str, Document, dict or a list of them, got {type(data).__name__}")
    if not many:
        raise InputError("nothing to add: the input is empty")
    docs: list[Document] = []
    for i, entry in enumerate(many):
        where = f"input #{i}"
        match entry:
            case Document():
                doc = entry
            case str():
                doc = Document(text=entry)
            case dict():
                doc = _from_dict(entry, where)
            case _:
                raise InputError(f"{where}: expected str, Document or dict, got {type(entry).__name__}")
        check_text(doc.text, where, max_chars)
        if doc.source_id is None:
            sid = f"{source_id}#{i}" if source_id and len(many) > 1 else source_id or _digest(doc.text)
            doc = doc.model_copy(update={"source_id": sid})
        docs.append(doc)
    return docs


def _from_dict(entry: dict[str, Any], where: str) -> Document:
    fields = record_fields(entry, where) if _is_message(entry) else None
    if fields is not None:  # a chat message: the same reading as a JSONL file's messages
        entry = {k: fields[k] for k in ("text", "speaker", "session_id", "event_time", "source_id")} | {"chunk": False}
    try:
        return Document.model_validate({k: v for k, v in entry.items() if v is not None})
    except ValidationError as exc:
        raise InputError(f"{where}: not a valid document: {exc.errors()[0]['msg']}") from exc


def _is_message(entry: dict[str, Any]) -> bool:
    return ("content" in entry and "text" not in entry) or any(k in entry for k in ("speaker", "name", "role"))


def to_raw_items(docs: Iterable[Document], namespace: str, max_chunk_chars: int = 800) -> list[MemoryItem]:
    """Chunk documents into raw items with deterministic ids."""
    items: list[MemoryItem] = []
    for doc in docs:
        source_id = doc.source_id or _digest(doc.text)
        meta = dict(doc.meta)
        if doc.title:
            meta["title"] = doc.title
        pieces = chunk_text(doc.text, max_chars=max_chunk_chars) if doc.chunk else None
        texts = [(c.position, c.text) for c in pieces] if pieces else [(0, doc.text.strip())]
        for position, text in texts:
            shown = f"{doc.title}: {text}" if doc.title and position == 0 else text
            items.append(
                MemoryItem.new(
                    namespace=namespace,
                    level="raw",
                    text=shown,
                    source_id=source_id,
                    position=position,
                    session_id=doc.session_id,
                    speaker=doc.speaker,
                    event_time=doc.event_time,
                    meta=meta,
                )
            )
    return items
