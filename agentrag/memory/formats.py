"""One loader per file format, shared by ``agentrag ingest`` and ``agentrag memory add --file``.

A file becomes raw ``MemoryItem``s; JSON/JSONL records go through the same
``loaders.record_fields`` the Python API and the HTTP API use for dicts, so a
chat message keeps its speaker, session and time whichever way it arrives.

Identity: a file's items have ``source_id = "file:<path relative to root>"``
(root: the current folder unless told otherwise; files outside it by absolute
path), never the base name alone, so ``a/README.md`` and ``b/README.md`` are two
documents. ``--source-id`` names a single file explicitly. Because a source is
loaded whole, re-ingesting a shortened file retires (``invalidate``, with a
history entry) the chunks it no longer has: see ``retire_stale``.

Formats we cannot read (PDF, CSV, Word...) are refused by name with what to do
instead; in a folder they are skipped and reported, and one bad or empty file
does not abort the rest.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from agentrag.errors import InputError
from agentrag.memory import loaders
from agentrag.types import MemoryItem

log = logging.getLogger(__name__)

TEXT = (".txt", ".text", ".rst", "")
MARKDOWN = (".md", ".markdown")
RECORDS = (".jsonl", ".json", ".ndjson")
SUPPORTED = (*TEXT[:-1], *MARKDOWN, *RECORDS)
UNREADABLE = {
    ".pdf": "PDF",
    ".csv": "CSV",
    ".tsv": "TSV",
    ".doc": "Word",
    ".docx": "Word",
    ".odt": "OpenDocument text",
    ".rtf": "RTF",
    ".xls": "Excel",
    ".xlsx": "Excel",
    ".ods": "OpenDocument spreadsheet",
    ".ppt": "PowerPoint",
    ".pptx": "PowerPoint",
    ".epub": "EPUB",
    ".html": "HTML",
    ".htm": "HTML",
    ".xml": "XML",
    ".zip": "zip archive",
    ".gz": "gzip archive",
    ".tar": "tar archive",
    ".png": "PNG image",
    ".jpg": "JPEG image",
    ".jpeg": "JPEG image",
    ".gif": "GIF image",
    ".parquet": "Parquet",
}
_MAGIC = {b"%PDF-": "PDF", b"PK\x03\x04": "zip (or docx/xlsx)", b"\x89PNG": "PNG image", b"\xff\xd8\xff": "JPEG image"}


@dataclass
class Loaded:
    """What a path yielded: items, the sources loaded whole (for retiring), and files skipped with why."""

    items: list[MemoryItem] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)
    """source id -> how many items it has now."""
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    files: int = 0


def source_id_for(path: Path, root: Path | None = None) -> str:
    """``file:<path relative to root>`` (POSIX separators); the absolute path when outside ``root``."""
    base = (root or Path.cwd()).resolve()
    full = path.resolve()
    try:
        rel = full.relative_to(base).as_posix()
    except ValueError:
        rel = full.as_posix()
    return f"file:{rel}"


def refuse_reason(path: Path) -> str | None:
    """Why a file cannot be read, naming its format (``None`` if it looks readable)."""
    suffix = path.suffix.lower()
    if suffix in UNREADABLE:
        return _unreadable(UNREADABLE[suffix])
    if suffix not in SUPPORTED and suffix:
        return f"unsupported file type {suffix!r}; agentrag reads {', '.join(SUPPORTED)}"
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return _unreadable(name) + f" (the content is {name} although the name ends in {suffix or 'nothing'})"
    return None


def _unreadable(name: str) -> str:
    return f"{name} files are not supported; convert to text, Markdown or JSONL first (e.g. pdftotext, csv -> jsonl)"


def load_file(
    path: Path, namespace: str, *, root: Path | None = None, source_id: str | None = None, max_chars: int = 2_000_000
) -> Loaded:
    """Items of one file in its format; ``InputError`` naming the file (and line) when it cannot be used."""
    if not path.is_file():
        raise InputError(f"{path}: {'is a folder' if path.is_dir() else 'no such file'}")
    reason = refuse_reason(path)
    if reason:
        raise InputError(f"{path}: {reason}")
    text = loaders.read_text_file(path)
    if not text.strip():
        raise InputError(f"{path}: file is empty")
    if len(text) > max_chars:
        raise InputError(f"{path}: {len(text):,} characters; the limit is {max_chars:,} (max_input_chars)")
    sid = source_id or source_id_for(path, root)
    suffix = path.suffix.lower()
    if suffix in RECORDS:
        items = _record_file_items(path, text, namespace, sid)
    else:
        meta = {"file": sid.removeprefix("file:"), "title": path.stem}
        items = loaders.text_items(text, namespace, source_id=sid, markdown=suffix in MARKDOWN, meta=meta)
    out = Loaded(items=items, files=1)
    for it in items:
        out.sources[it.source_id] = out.sources.get(it.source_id, 0) + 1
    return out


def load_path(
    path: Path,
    namespace: str,
    *,
    root: Path | None = None,
    source_id: str | None = None,
    max_chars: int = 2_000_000,
    locomo_samples: Sequence[str] | None = None,
) -> Loaded:
    """A file, or every readable file under a folder (hidden ones ignored); folder problems are skipped, not fatal."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file():
        if is_locomo(path):
            items = loaders.locomo_items(path, namespace, samples=locomo_samples)
            return Loaded(items=items, sources=_count_sources(items), files=1)
        return load_file(path, namespace, root=root, source_id=source_id, max_chars=max_chars)
    if source_id is not None:
        raise InputError("--source-id names one document; give a file, not a folder")
    out = Loaded()
    files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
    for f in files:
        escape = _outside(f, path)
        if escape:
            out.skipped.append((f, escape))
            continue
        try:
            got = load_file(f, namespace, root=root, max_chars=max_chars)
        except InputError as exc:
            out.skipped.append((f, str(exc).removeprefix(f"{f}: ")))
            continue
        out.items += got.items
        out.sources.update(got.sources)
        out.files += 1
    if not out.items:
        listed = "; ".join(f"{p.name}: {why}" for p, why in out.skipped[:5])
        raise InputError(f"{path}: nothing readable found" + (f" ({listed})" if listed else ""))
    return out


def _outside(f: Path, folder: Path) -> str | None:
    """Why a file found in ``folder`` must not be read: a symlink (at any depth) leading out of it.

    A folder is a promise about what gets ingested; a link inside it to
    ``/etc/passwd`` or ``~/.ssh`` must not widen that promise, so it is skipped
    (and reported) without being opened.
    """
    target = f.resolve()
    if target.is_relative_to(folder.resolve()):
        return None
    return f"a symlink to {target}, outside {folder}; not followed"


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _count_sources(items: Sequence[MemoryItem]) -> dict[str, int]:
    out: dict[str, int] = {}
    for it in items:
        out[it.source_id] = out.get(it.source_id, 0) + 1
    return out


def is_locomo(path: Path) -> bool:
    """A LoCoMo file is a JSON list of records with a ``conversation`` mapping."""
    if path.suffix.lower() != ".json":
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, RecursionError):
        return False  # the record loader reports the error with its line number
    first = data[0] if isinstance(data, list) and data else data
    return isinstance(first, dict) and isinstance(first.get("conversation"), dict)


def _record_file_items(path: Path, text: str, namespace: str, file_sid: str) -> list[MemoryItem]:
    """JSON/JSONL records: chat messages (one item each, in file order) or documents (chunked)."""
    rows = _records(path, text)
    items: list[MemoryItem] = []
    position = 0
    for line, row in rows:
        where = f"{path}: line {line}"
        fields = loaders.record_fields(row, where)
        if fields["chunk"]:  # a document: its own id if it has one
            sid = fields["source_id"] or f"{file_sid}#{line}"
            body = f"{fields['title']}\n\n{fields['text']}" if fields["title"] else fields["text"]
            meta = {"file": file_sid.removeprefix("file:"), **({"title": fields["title"]} if fields["title"] else {})}
            items += loaders.text_items(
                body, namespace, source_id=sid, meta=meta, extra=_extra(fields), where=where
            )
        else:  # a chat message: the file is the source, the message order the position
            items.append(
                MemoryItem.new(
                    namespace=namespace,
                    level="raw",
                    text=fields["text"].strip(),
                    source_id=fields["source_id"] or file_sid,
                    position=position,
                    meta={"file": file_sid.removeprefix("file:"), "line": str(line)},
                    **_extra(fields),
                )
            )
            position += 1
    return items


def _extra(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: fields[k] for k in ("speaker", "session_id", "event_time") if fields[k] is not None}


def _records(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` pairs; line numbers are the file's own (blank lines counted)."""
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
        except RecursionError as exc:
            raise InputError(f"{path}: {loaders.TOO_DEEP}") from exc
        rows = data if isinstance(data, list) else [data]
        out = [(1 + i, r) for i, r in enumerate(rows)]  # no line numbers inside one JSON value: record numbers
        for n, r in out:
            if not isinstance(r, dict):
                raise InputError(f"{path}: record {n} is {type(r).__name__}, expected a JSON object")
        return out
    pairs: list[tuple[int, dict[str, Any]]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: malformed JSON at line {n}, column {exc.colno}: {exc.msg}") from exc
        except RecursionError as exc:
            raise InputError(f"{path}: line {n}: {loaders.TOO_DEEP}") from exc
        if not isinstance(row, dict):
            raise InputError(f"{path}: line {n} is {type(row).__name__}, expected a JSON object")
        pairs.append((n, row))
    return pairs


@runtime_checkable
class SourceIndex(Protocol):
    """What retiring needs from a store: the current ids of a source, and invalidation."""

    def current_ids_of_source(self, namespace: str, source_id: str, level: Any = "raw") -> set[str]:
        """Ids of the currently valid items of one source."""
        ...

    def invalidate(self, namespace: str, item_id: str, *, reason: str, actor: str = "system") -> MemoryItem:
        """Close an item's validity without a successor."""
        ...


def retire_stale(
    store: object,
    namespace: str,
    loaded: Loaded,
    *,
    actor: str,
    on_retire: Callable[[str, str], None] | None = None,
) -> list[str]:
    """Invalidate the current raw items of each loaded source that the new version no longer has.

    The chunks stay in memory with a closed validity and a history entry naming
    the document, so ``--as-of-ingested`` before the re-ingest still finds them.
    """
    if not isinstance(store, SourceIndex):
        log.info("store %s cannot list items by source; old chunks are not retired", type(store).__name__)
        return []
    new_ids: dict[str, set[str]] = {}
    for it in loaded.items:
        new_ids.setdefault(it.source_id, set()).add(it.id)
    retired: list[str] = []
    for sid, ids in new_ids.items():
        if sid not in loaded.sources:
            continue
        for old in sorted(store.current_ids_of_source(namespace, sid) - ids):
            store.invalidate(
                namespace, old, reason=f"no longer in {sid} (re-ingested with {len(ids)} chunks)", actor=actor
            )
            retired.append(old)
            if on_retire:
                on_retire(old, sid)
    return retired
