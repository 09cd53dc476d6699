"""Graph tests script the Judge's decisions directly, so they run with neutral thresholds.

The shipped defaults are SmolLM2-135M's calibration (never confident: every question
escalates; the notes loop off); a test of a route needs a Judge whose "yes" can mean
"sufficient" and a loop to escalate into (a test may turn it off with ``notes={"enabled": False}``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agentrag.api import AgentRAG

NEUTRAL = {"sufficient_above": 0.5, "insufficient_below": 0.5, "drop_below": 0.1, "conflict_above": 0.9,
           "refresh_above": 0.97}


@pytest.fixture
def make_rag(make_rag: Callable[..., AgentRAG]) -> Callable[..., AgentRAG]:
    """The shared factory with neutral ``decisions`` and the notes loop on (a test may override any)."""

    def factory(*args: object, decisions: dict[str, object] | None = None, notes: dict[str, object] | None = None,
                **settings: object) -> AgentRAG:
        return make_rag(*args, decisions={**NEUTRAL, **(decisions or {})}, notes={"enabled": True, **(notes or {})},
                        **settings)

    return factory
