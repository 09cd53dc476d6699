"""Erasing what a delete leaves behind in SQLite files: write-ahead logs, free pages, Chroma's log.

A SQLite ``DELETE`` or ``UPDATE`` only marks space free: the old bytes stay in the
file's free pages and, in WAL mode, in the ``-wal`` file until a checkpoint.
Embedded Chroma (1.x) also keeps every write in its own log table
(``embeddings_queue``: document text and vector) after the segments applied it,
and its full-text index keeps deleted terms in FTS5 segments until a merge. For
``forget`` to forget, those copies are purged here: applied log rows of the
forgotten ids are deleted (the delete row is kept, so a replay still deletes),
the FTS index is optimised, and the file is vacuumed with its WAL checkpointed
and truncated. HNSW files (``data_level0.bin``, ``length.bin``) carry heap
garbage in their unused capacity: it is zeroed (``scrub_hnsw_tails``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

_CHUNK = 400
_DELETE_OP = 3  # chroma's Operation.DELETE in embeddings_queue


def compact_sqlite(path: Path, conn: sqlite3.Connection | None = None) -> None:
    """Checkpoint the WAL into the file, VACUUM away free pages, and truncate the WAL to zero bytes."""
    if conn is None and not path.is_file():
        return
    own = conn is None
    db = conn if conn is not None else sqlite3.connect(str(path), timeout=60.0, isolation_level=None)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy and busy[0]:
            log.warning("%s: a reader kept the WAL from being truncated; it is erased at the next checkpoint", path)
    finally:
        if own:
            db.close()


def purge_chroma_log(path: Path, collection_ids: Sequence[str], ids: Sequence[str], *, compact: bool = True) -> None:
    """Remove the forgotten ids' document text and vectors from embedded Chroma's SQLite file.

    Only rows of the given collections (a topic ends with its collection id) are
    touched, so another tenant's item with the same id keeps its log. One call for
    all of a namespace's levels: the file is vacuumed once (not at all without
    ``compact``, when a later call will vacuum the whole file anyway). Add/update/upsert rows
    are deleted; the delete row (no text, no vector) stays, so a segment replaying
    the log from before the delete ends without the item either way.
    """
    if not ids or not path.is_file():
        return
    conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            unique = list(dict.fromkeys(ids))
            for collection_id in dict.fromkeys(collection_ids):
                for i in range(0, len(unique), _CHUNK):
                    chunk = unique[i : i + _CHUNK]
                    conn.execute(
                        f"DELETE FROM embeddings_queue WHERE operation != ? AND topic LIKE ? "
                        f"AND id IN ({','.join('?' * len(chunk))})",
                        (_DELETE_OP, f"%{collection_id}", *chunk),
                    )
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'embedding_fulltext_search'").fetchone():
                conn.execute("INSERT INTO embedding_fulltext_search(embedding_fulltext_search) VALUES('optimize')")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        if compact:
            compact_sqlite(path, conn)
    finally:
        conn.close()


# hnswlib's header.bin (chroma's fork, persistence version 1): version int32, then offsetLevel0_,
# max_elements_, cur_element_count, size_data_per_element_ as uint64 (little-endian).
_HNSW_HEADER = struct.Struct("<i4Q")

HnswCapacityFile = Literal["data_level0.bin", "length.bin"]
"""The segment files hnswlib's ``initPersistentIndex`` writes at full ``max_elements_`` capacity.

``data_level0.bin`` holds ``size_data_per_element_`` bytes per element; ``length.bin``
one float32 per element (its norm before normalising, read back for a cosine index).
``link_lists.bin`` is written only record by record for elements in use (no capacity
tail) and ``header.bin`` is fixed-size, so neither needs a scrub. Later writes
(``persistDirty``) touch only the slots of elements added or changed, so a tail
written at creation stays until zeroed. (chroma-core/hnswlib ``hnswlib/hnswalg.h``.)
"""
_CAPACITY_FILES: tuple[HnswCapacityFile, ...] = ("data_level0.bin", "length.bin")
_LENGTH_RECORD = struct.calcsize("<f")


def scrub_hnsw_tails(root: Path) -> int:
    """Zero the never-used capacity of every HNSW segment's capacity files under ``root``; returns bytes zeroed.

    hnswlib allocates its level-0 array and its per-element norms (``length_memory_``)
    with ``malloc`` for ``max_elements`` slots and writes both whole when it creates
    the files, so the slots past ``cur_element_count`` hold whatever the process's
    heap held: freed strings, including the text of documents (any tenant's) that
    passed through it. No index reads those bytes; zeroing them changes no result.
    Each file's header is read again just before its write, so slots Chroma filled
    meanwhile are left alone (a write racing within those microseconds is the
    remaining window). Slots of elements hnswlib has used are zeroed (level 0) or
    set (norms of a cosine index) by hnswlib itself; an ``l2`` or ``ip`` index never
    sets its norms, so there even used ``length.bin`` slots keep heap bytes (agentrag's
    collections are cosine: ``vectors.collection_schema``).
    """
    zeroed = 0
    for header in sorted(root.glob("*/header.bin")):
        for name in _CAPACITY_FILES:
            zeroed += _zero_tail(header, name)
    if zeroed:
        log.info("forget: zeroed %d bytes of unused HNSW capacity under %s", zeroed, root)
    return zeroed


def _zero_tail(header: Path, name: HnswCapacityFile) -> int:
    """Zero ``name``'s bytes past its slots in use (per ``header``); returns bytes zeroed."""
    path = header.with_name(name)
    try:
        used_end, size = _hnsw_used_end(header, name), path.stat().st_size
        if used_end is None or used_end >= size:
            return 0
        with path.open("r+b") as f:
            f.seek(used_end)
            tail = f.read(size - used_end)
            if not tail.strip(b"\0"):
                return 0
            now = _hnsw_used_end(header, name)
            if now is None or now > used_end:  # grew meanwhile: leave it to the next forget
                return 0
            f.seek(used_end)
            f.write(bytes(len(tail)))
            f.flush()
            os.fsync(f.fileno())
            return len(tail)
    except FileNotFoundError:  # a collection deleted meanwhile
        return 0


def _hnsw_used_end(header: Path, name: HnswCapacityFile = "data_level0.bin") -> int | None:
    """Byte offset in the segment file ``name`` where its unused slots begin; None for a header not understood."""
    raw = header.read_bytes()
    if len(raw) < _HNSW_HEADER.size:
        return None
    version, offset_level0, _max_elements, cur, per_element = _HNSW_HEADER.unpack_from(raw)
    if version != 1 or offset_level0 != 0 or per_element <= 0:
        return None
    return int(cur) * (int(per_element) if name == "data_level0.bin" else _LENGTH_RECORD)
