"""Split documents into raw chunks on paragraph and sentence boundaries.

Chunks carry their character offsets so a citation can point back into the
source, and the chunk position feeds the deterministic item id, so re-ingesting
the same file yields the same ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_PARAGRAPH = re.compile(r"(?:[^\n]|\n(?![ \t]*\n))+")


@dataclass(frozen=True)
class Chunk:
    """A piece of a document with its position and character span."""

    position: int
    text: str
    start: int
    end: int


def chunk_text(text: str, max_chars: int = 800, overlap: int = 0) -> list[Chunk]:
    """Greedy chunks of whole paragraphs (or sentences, for long paragraphs) up to ``max_chars``."""
    if max_chars < 50:
        raise ValueError("max_chars must be at least 50")
    pieces: list[tuple[int, int]] = []
    for para in _PARAGRAPH.finditer(text):
        start, end = para.span()
        start += len(para.group()) - len(para.group().lstrip())
        end -= len(para.group()) - len(para.group().rstrip())
        if start >= end:
            continue
        if end - start <= max_chars:
            pieces.append((start, end))
            continue
        pos = start
        for sentence in _SENTENCE_END.split(text[start:end]):
            s = text.find(sentence, pos)
            if not sentence.strip():
                continue
            for cut in range(s, s + len(sentence), max_chars):
                pieces.append((cut, min(cut + max_chars, s + len(sentence))))
            pos = s + len(sentence)
    chunks: list[Chunk] = []
    cur_start: int | None = None
    cur_end = 0
    for start, end in pieces:
        if cur_start is not None and end - cur_start > max_chars:
            chunks.append(_make(text, len(chunks), cur_start, cur_end))
            cur_start = max(start - overlap, cur_end - overlap) if overlap else start
        if cur_start is None:
            cur_start = start
        cur_end = end
    if cur_start is not None:
        chunks.append(_make(text, len(chunks), cur_start, cur_end))
    return chunks


def _make(text: str, position: int, start: int, end: int) -> Chunk:
    return Chunk(position=position, text=text[start:end].strip(), start=start, end=end)
