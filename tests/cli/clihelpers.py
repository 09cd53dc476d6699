"""Helpers for the CLI tests (a module of its own: ``conftest`` names clash across test folders)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def flat(self) -> str:
        """stdout + stderr with all whitespace runs collapsed (so terminal wrapping never matters)."""
        return " ".join((self.out + " " + self.err).split())


Run = Callable[..., Result]
