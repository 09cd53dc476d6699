"""Checks on what callers hand the memory: texts, queries and ids.

Bad input is refused with an ``InputError`` before anything is embedded or
written, so a rejected call leaves no trace to clean up.
"""

from __future__ import annotations

import re

from agentrag.errors import InputError

MAX_QUERY_CHARS = 4_000
MAX_ID_CHARS = 256
# C0 controls except tab, newline, vertical tab, form feed, carriage return; plus DEL.
_BINARY = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def check_text(text: object, *, what: str, max_chars: int) -> str:
    """Return ``text`` if it is usable as memory text, else raise ``InputError`` saying why."""
    if not isinstance(text, str):
        raise InputError(f"{what} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InputError(f"{what} is empty")
    if len(text) > max_chars:
        raise InputError(
            f"{what} is {len(text):,} characters; the limit is {max_chars:,} (split it, e.g. with the loaders)"
        )
    bad = _BINARY.search(text)
    if bad is not None:
        raise InputError(f"{what} looks like binary data (control character {bad.group()!r} at offset {bad.start()})")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{what} is not valid Unicode text ({exc.reason} at offset {exc.start})") from exc
    return text


def check_query(query: object) -> str:
    """Validate a search query."""
    return check_text(query, what="query", max_chars=MAX_QUERY_CHARS)


def check_id(item_id: object) -> str:
    """Validate an item id (non-empty, printable, bounded)."""
    if not isinstance(item_id, str) or not item_id.strip():
        raise InputError(f"item id must be a non-empty string, got {item_id!r}")
    if len(item_id) > MAX_ID_CHARS or _BINARY.search(item_id) or item_id != item_id.strip():
        shown = item_id if len(item_id) <= 60 else item_id[:60] + "..."
        raise InputError(f"item id {shown!r} is not a valid id")
    return item_id
