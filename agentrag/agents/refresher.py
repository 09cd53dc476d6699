"""The Refresher: repairs memory when two current facts contradict each other.

It never deletes. The outdated fact's validity is closed and linked to its
successor through ``MemoryStore.supersede``, which records the reason, the actor
and both texts in the history log, so "what did we believe before, and why did
it change" always has an answer.
"""

from __future__ import annotations

import logging
from typing import TypedDict

from langgraph.runtime import Runtime

from agentrag.agents.judge import conflicting_facts
from agentrag.deps import Deps, deps_of
from agentrag.memory.store import MemoryStore
from agentrag.state import AnswerState
from agentrag.types import Conflict, MemoryItem

log = logging.getLogger(__name__)


class RefreshUpdate(TypedDict):
    """What ``refresh`` writes: ids of the facts it superseded."""

    refreshed: list[str]


def supersede_all(
    memory: MemoryStore, namespace: str, pairs: list[tuple[MemoryItem, MemoryItem, str]], actor: str = "refresher"
) -> list[str]:
    """Supersede each outdated item by its newer counterpart; returns the superseded ids."""
    done: list[str] = []
    for old, new, reason in pairs:
        if old.id == new.id or old.id in done:
            continue
        why = reason or "contradicted by a newer fact"
        memory.supersede(namespace, old.id, new, reason=f"{why} (newer: {new.text!r})", actor=actor)
        log.info("superseded %s by %s: %s", old.id, new.id, why)
        done.append(old.id)
    return done


def refresh(state: AnswerState, runtime: Runtime[Deps]) -> RefreshUpdate:
    """Supersede outdated facts the Judge found in conflict with newer ones."""
    deps = deps_of(runtime)
    done = supersede_all(deps.memory, state["namespace"], conflicting_facts(state))
    return {"refreshed": list(state.get("refreshed", [])) + done}


def pairs_from_conflicts(
    conflicts: list[Conflict], items: dict[str, MemoryItem]
) -> list[tuple[MemoryItem, MemoryItem, str]]:
    """Resolve conflicts given by memory item id into (old, new, reason) triples."""
    return [(items[c.older], items[c.newer], c.reason) for c in conflicts if c.older in items and c.newer in items]
