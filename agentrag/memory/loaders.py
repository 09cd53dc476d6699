"""Turn the evaluation formats and plain files into raw memory items.

* LoCoMo conversations: one raw item per dialog turn, with the session id,
  speaker, session timestamp (parsed to an aware datetime; LoCoMo gives local
  wall-clock times without a zone, read here as UTC) and the dialog id in
  ``meta["dia_id"]`` so an evaluation can match retrieved items to gold evidence.
* HotpotQA / MuSiQue paragraphs, from the pooled ``*.corpus.jsonl`` or the
  per-question files (``paragraphs`` lists); ``doc_id`` is the source id, so a
  paragraph shared by many questions is stored once.
* JSON records (documents or chat messages), read by ``record_fields``, the one
  reading shared by file ingest and the Python/HTTP APIs.
* Plain text and Markdown, chunked on paragraph/sentence boundaries
  (``agentrag.memory.chunking``); Markdown is first split at headings and each
  chunk keeps its heading path in ``meta["heading"]``.

Positions are stable (turn order, chunk order), so loading the same input twice
yields the same ids and adds nothing the second time.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentrag.errors import InputError
from agentrag.memory.chunking import chunk_text
from agentrag.types import MemoryItem

log = logging.getLogger(__name__)

_SESSION_KEY = re.compile(r"session_(\d+)")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
LOCOMO_TIME_FORMAT = "%I:%M %p on %d %B, %Y"
TOO_DEEP = "JSON nested too deeply to read (is it hostile or generated?)"


def parse_locomo_time(value: str) -> datetime:
    """Parse LoCoMo's ``"1:56 pm on 8 May, 2023"`` to an aware UTC datetime."""
    try:
        return datetime.strptime(value.strip(), LOCOMO_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        expected = "expected e.g. '1:56 pm on 8 May, 2023'"
        raise InputError(f"unrecognised LoCoMo session time {value!r} ({expected})") from exc


def read_json_or_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a ``.json`` list/object or a ``.jsonl`` file, with errors that name the line."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    text = read_text_file(path)
    try:
        if path.suffix == ".jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
            rows = data if isinstance(data, list) else [data]
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise InputError(f"{path}: {TOO_DEEP}") from exc
    if not all(isinstance(r, dict) for r in rows):
        raise InputError(f"{path}: expected JSON objects")
    return rows


def locomo_items(
    conversations: Path | Sequence[Mapping[str, Any]],
    namespace: str,
    *,
    samples: Iterable[str] | None = None,
    include_captions: bool = True,
) -> list[MemoryItem]:
    """Raw items for LoCoMo conversations (all of them, or the ``samples`` named).

    A turn that shares a photo keeps its BLIP caption in ``meta["blip_caption"]``
    and, with ``include_captions``, also in the text as ``[shares a photo: ...]``,
    because questions are asked about what the photos showed.
    """
    data = read_json_or_jsonl(conversations) if isinstance(conversations, Path) else list(conversations)
    wanted = set(samples) if samples is not None else None
    items: list[MemoryItem] = []
    for conv in data:
        sample_id = str(conv.get("sample_id", ""))
        if wanted is not None and sample_id not in wanted:
            continue
        items.extend(_conversation_items(conv, sample_id, namespace, include_captions))
    if wanted is not None and not items:
        raise InputError(f"no LoCoMo conversation named {sorted(wanted)}")
    return items


def _conversation_items(
    conv: Mapping[str, Any], sample_id: str, namespace: str, include_captions: bool
) -> Iterator[MemoryItem]:
    body = conv.get("conversation")
    if not isinstance(body, Mapping) or not sample_id:
        raise InputError(f"LoCoMo record {sample_id or '?'} has no 'sample_id' or 'conversation'")
    # Iterate over the session lists that exist (some conversations list dates for missing sessions).
    sessions = sorted(
        (int(m.group(1)), key) for key in body if (m := _SESSION_KEY.fullmatch(key)) and isinstance(body[key], list)
    )
    position = 0
    for number, key in sessions:
        stamp = body.get(f"{key}_date_time")
        when = parse_locomo_time(stamp) if isinstance(stamp, str) else None
        for turn in body[key]:
            text = str(turn.get("text", "")).strip()
            caption = turn.get("blip_caption")
            meta = {"dia_id": str(turn.get("dia_id", "")), "sample_id": sample_id, "session": str(number)}
            if caption:
                meta["blip_caption"] = str(caption)
                if include_captions:
                    text = f"{text} [shares a photo: {caption}]".strip()
            if not text:
                position += 1
                continue
            yield MemoryItem.new(
                namespace=namespace,
                level="raw",
                text=text,
                source_id=f"locomo:{sample_id}",
                position=position,
                session_id=f"{sample_id}:session_{number}",
                speaker=turn.get("speaker"),
                event_time=when,
                meta=meta,
            )
            position += 1


def paragraph_items(
    source: Path | Sequence[Mapping[str, Any]], namespace: str, *, dataset: str | None = None
) -> list[MemoryItem]:
    """Raw items for HotpotQA/MuSiQue paragraphs (corpus rows or questions with ``paragraphs``).

    Text is the title, a newline, then the paragraph (the title often carries the entity a hop needs);
    duplicates across questions collapse onto one ``doc_id``.
    """
    rows = read_json_or_jsonl(source) if isinstance(source, Path) else list(source)
    name = dataset or (source.stem.split(".")[0] if isinstance(source, Path) else "paragraphs")
    seen: dict[str, MemoryItem] = {}
    for row in rows:
        for para in row.get("paragraphs", [row]):
            doc_id = para.get("doc_id") or para.get("id")
            title, text = str(para.get("title", "")).strip(), str(para.get("text", "")).strip()
            if not doc_id or not text:
                raise InputError(f"{name}: paragraph without 'doc_id' or 'text': {str(para)[:120]}")
            if doc_id in seen:
                continue
            meta = {"doc_id": str(doc_id), "dataset": name}
            if title:
                meta["title"] = title
            seen[doc_id] = MemoryItem.new(
                namespace=namespace,
                level="raw",
                text=f"{title}\n{text}" if title else text,
                source_id=str(doc_id),
                position=0,
                meta=meta,
            )
    return list(seen.values())


def text_items(
    text: str,
    namespace: str,
    *,
    source_id: str,
    markdown: bool = False,
    max_chars: int = 800,
    meta: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    where: str | None = None,
) -> list[MemoryItem]:
    """Chunk a text (or Markdown, split at headings first) into raw items.

    ``extra`` holds item fields every chunk shares (speaker, session_id, event_time);
    ``where`` names the input in errors (default: the source id).
    """
    if not text.strip():
        raise InputError(f"{where or source_id}: text is empty")
    sections = _markdown_sections(text) if markdown else [("", text)]
    items: list[MemoryItem] = []
    for heading, body in sections:
        for chunk in chunk_text(body, max_chars=max_chars):
            if not chunk.text:
                continue
            more = {"heading": heading} if heading else {}
            items.append(
                MemoryItem.new(
                    namespace=namespace,
                    level="raw",
                    text=chunk.text,
                    source_id=source_id,
                    position=len(items),
                    meta={**(meta or {}), **more},
                    **dict(extra or {}),
                )
            )
    return items


_SPEAKER_KEYS = ("speaker", "name", "role")
_TEXT_KEYS = ("text", "content", "contents")
_TIME_KEYS = ("time", "event_time", "timestamp", "date")
_ID_KEYS = ("source_id", "doc_id", "id")


def record_fields(row: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Normalise one JSON record, a document or a chat message, to item fields.

    The one reading of records shared by file ingest, ``memory add`` and the Python
    and HTTP APIs: ``text``/``content``/``contents`` is the text; ``speaker``/``name``/
    ``role``, ``session_id`` and ``time``/``event_time`` are kept; a record with a
    speaker, or with ``content`` but no ``text``, is a chat message (kept whole),
    anything else a document (chunked) whose ``source_id``/``doc_id``/``id`` names it.
    """
    body = next((row[k] for k in _TEXT_KEYS if k in row), None)
    if not isinstance(body, str) or not body.strip():
        raise InputError(f"{where}: no non-empty 'text' (or 'content'/'contents') string")
    speaker = next((row[k] for k in _SPEAKER_KEYS if row.get(k) is not None), None)
    stamp = next((row[k] for k in _TIME_KEYS if row.get(k) is not None), None)
    sid = next((row[k] for k in _ID_KEYS if row.get(k) is not None), None)
    session = row.get("session_id", row.get("session"))
    title = row.get("title")
    return {
        "text": body,
        "source_id": None if sid is None else str(sid),
        "title": None if title is None else str(title),
        "speaker": None if speaker is None else str(speaker),
        "session_id": None if session is None else str(session),
        "event_time": None if stamp is None else parse_time(stamp, where),
        "chunk": speaker is None and not ("content" in row and "text" not in row),
    }


def parse_time(value: object, where: str) -> datetime:
    """An aware UTC datetime from ISO 8601 (``2023-01-05T10:00:00Z``, ``2023-01-05``), LoCoMo's format or epoch seconds.

    Converted to UTC here, so a time that exists in its own zone but not in UTC
    (``9999-12-31T23:59:59-14:00``) or an epoch of 1e20 is refused by name now,
    not found out as an overflow halfway through a write.
    """
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:80] + "..."
    try:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, ValueError, OSError) as exc:
        raise InputError(f"{where}: time {shown} is out of range ({exc})") from exc
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None:
            return parse_time(parsed, where)
        try:
            return parse_locomo_time(value)
        except InputError:
            pass
    raise InputError(f"{where}: time {shown} is not an ISO date/time (e.g. 2023-01-05T10:00:00Z)")


def read_text_file(path: Path) -> str:
    """A file's text; binary or non-UTF-8 files are refused with a message naming the file."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise InputError(f"{path}: looks like a binary file; expected UTF-8 text, Markdown, JSON or JSONL")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _markdown_sections(text: str) -> list[tuple[str, str]]:
    """``(heading path, body)`` per section; text before the first heading has an empty path."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []
    last, path = 0, ""
    for m in _HEADING.finditer(text):
        out.append((path, text[last : m.start()]))
        depth = len(m.group(1))
        stack = [(d, h) for d, h in stack if d < depth] + [(depth, m.group(2))]
        path = " > ".join(h for _, h in stack)
        last = m.end()
    out.append((path, text[last:]))
    return [(h, body) for h, body in out if body.strip()]
