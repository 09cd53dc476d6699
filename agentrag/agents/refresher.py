"""The Refresher: repairs memory when two current facts contradict each other.

It never deletes. The outdated fact's validity is closed and linked to its
successor through ``MemoryStore.supersede``, which records the reason, the actor
and both texts in the history log, so "what did we believe before, and why did
it change" always has an answer. While answering, it acts only on conflicts the
Judge called with high confidence (``decisions.refresh_above``), and the history
entry names the run that made the change.
"""

from __future__ import annotations

import logging
from typing import TypedDict

from langgraph.runtime import Runtime

from agentrag.agents.judge import conflicting_facts
from agentrag.deps import Deps, deps_of
from agentrag.memory.store import MemoryStore
from agentrag.runctx import current_run_id
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


def run_id() -> str:
    """The id of the graph run in progress: the run context's, else LangGraph's run or thread id."""
    rid = current_run_id.get()
    if rid:
        return rid
    try:
        from langgraph.config import get_config

        config = get_config()
    except RuntimeError:  # called outside a graph run
        return "unknown"
    meta = config.get("metadata") or {}
    conf = config.get("configurable") or {}
    return str(meta.get("run_id") or conf.get("thread_id") or meta.get("thread_id") or "unknown")


def refresh(state: AnswerState, runtime: Runtime[Deps]) -> RefreshUpdate:
    """Supersede outdated facts the Judge found, with high confidence, in conflict with newer ones."""
    deps = deps_of(runtime)
    rid = run_id()
    pairs = [(old, new, f"{why} [run {rid}]") for old, new, why in conflicting_facts(state)]
    done = supersede_all(deps.memory, state["namespace"], pairs, actor=f"refresher (run {rid})")
    return {"refreshed": list(state.get("refreshed", [])) + done}


def pairs_from_conflicts(
    conflicts: list[Conflict], items: dict[str, MemoryItem]
) -> list[tuple[MemoryItem, MemoryItem, str]]:
    """Resolve conflicts given by memory item id into (old, new, reason) triples."""
    return [(items[c.older], items[c.newer], c.reason) for c in conflicts if c.older in items and c.newer in items]
