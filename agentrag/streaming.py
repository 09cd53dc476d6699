"""Stream events and the incremental extraction of the answer text from JSON tokens.

The answerer replies in schema-constrained JSON (``{"answer": "...", ...}``), so
its raw tokens are JSON. Chat backends want the answer text as it is generated,
so ``AnswerTextStream`` decodes the ``answer`` string field incrementally and
yields only the new characters of it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

_KEY = re.compile(r'"answer"\s*:\s*"')


class StreamEvent(BaseModel):
    """One event of a streamed run: a node finished, an answer token arrived, or the final answer."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    kind: Literal["node", "token", "answer"]
    node: str | None = None
    text: str = ""
    data: Any = None


class AnswerTextStream:
    """Feed raw JSON tokens; get back newly decoded characters of the ``answer`` field."""

    def __init__(self, field: str = "answer") -> None:
        self._key = _KEY if field == "answer" else re.compile(rf'"{re.escape(field)}"\s*:\s*"')
        self._buf = ""
        self._pos: int | None = None
        self.done = False

    def feed(self, piece: str) -> str:
        """Add raw text; return the answer characters completed by it."""
        if self.done:
            return ""
        self._buf += piece
        if self._pos is None:
            m = self._key.search(self._buf)
            if not m:
                return ""
            self._pos = m.end()
        out: list[str] = []
        i = self._pos
        while i < len(self._buf):
            ch = self._buf[i]
            if ch == '"':
                self.done = True
                i += 1
                break
            if ch == "\\":
                esc = self._buf[i : i + 6] if self._buf[i + 1 : i + 2] == "u" else self._buf[i : i + 2]
                if len(esc) < (6 if esc[1:2] == "u" else 2):
                    break  # wait for the rest of the escape
                try:
                    out.append(json.loads(f'"{esc}"'))
                except json.JSONDecodeError:
                    out.append(esc)
                i += len(esc)
                continue
            out.append(ch)
            i += 1
        self._pos = i
        return "".join(out)
