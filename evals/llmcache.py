"""Memoised generator replies for evaluation runs (a LangChain cache in one SQLite file).

An evaluation asks the same greedy-decoded generator the same request many times: the
ablations repeat most of ``agentrag``'s calls, ``adaptive_note`` shares its notes loop,
and a re-run after a fix repeats every call the fix did not touch. With temperature 0
and a fixed seed an identical request gets an identical reply, so replaying it from disk
changes no answer and turns hours of CPU into minutes. The key is LangChain's own:
the rendered messages plus the model's parameters and the call's options (JSON schema,
stop words, top log-probabilities), so a different model, setting or prompt misses.

What it does change is wall time: a method whose calls were already made runs faster
than it would alone. Reports say so, and count every call's tokens as if it had run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.load import dumps, loads


class SqliteReplyCache(BaseCache):
    """``(prompt, llm_string) -> generations`` in SQLite; thread-safe; counts hits and misses."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _key(prompt: str, llm_string: str) -> str:
        return hashlib.sha256(f"{llm_string}\x00{prompt}".encode()).hexdigest()

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The stored reply for this exact request, if any."""
        with self._lock:
            row = self._db.execute("SELECT value FROM replies WHERE key = ?", (self._key(prompt, llm_string),))
            found = row.fetchone()
            if found is None:
                self.misses += 1
                return None
            self.hits += 1
        with warnings.catch_warnings():  # ``loads`` is marked beta; the format is LangChain's own
            warnings.simplefilter("ignore")
            return [loads(s, allowed_objects="core") for s in json.loads(found[0])]

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store a reply (the last writer wins; replies for one key are identical anyway)."""
        value = json.dumps([dumps(g) for g in return_val])
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?)", (self._key(prompt, llm_string), value))

    def clear(self, **kwargs: Any) -> None:
        """Forget every stored reply."""
        with self._lock:
            self._db.execute("DELETE FROM replies")

    def counts(self) -> dict[str, int]:
        """Hits and misses since this cache was opened."""
        return {"hits": self.hits, "misses": self.misses}

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()


def attach(llms: Sequence[object], path: Path) -> SqliteReplyCache:
    """Give each LangChain chat model the cache (models without a ``cache`` field are left alone)."""
    cache = SqliteReplyCache(path)
    for llm in llms:
        if hasattr(llm, "cache"):
            llm.cache = cache
    return cache
