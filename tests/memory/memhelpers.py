"""Helpers shared by the memory tests (a plain module: conftest files cannot be imported by name)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agentrag.memory import ChromaStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "memory"
StoreFactory = Callable[..., ChromaStore]
