"""Everything a run page shows, gathered from the checkpoints, the run log and the memory history.

Checkpoints give the path and the state at each step (what each node wrote is in the
snapshot's task results); the run log gives node times and LLM calls with tokens;
the memory's history gives the changes the run made, with both texts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agentrag.memory.store import HistoryEntry, MemoryStore
from agentrag.pages.checkpoints import parse_ts, pretty
from agentrag.tracing.runlog import LLMCall, RunRecord
from agentrag.types import Citation, Evidence, Hit, Note, Route, TokenUsage, Verdict


@dataclass
class StepView:
    """One node visit."""

    index: int
    node: str
    step: int
    started: datetime
    offset_ms: float
    duration_ms: float | None
    update: dict[str, Any]
    calls: list[LLMCall] = field(default_factory=list)
    error: str | None = None
    call_bars: list[tuple[float, LLMCall]] = field(default_factory=list)
    """Each LLM call with its start on the page's clock (ms since the first checkpoint)."""

    @property
    def tokens(self) -> TokenUsage:
        """Tokens of this visit's LLM calls."""
        total = TokenUsage()
        for c in self.calls:
            total = total + TokenUsage(prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens, calls=1)
        return total


@dataclass
class RoundView:
    """One retrieve-judge round: what was asked, found, judged and noted."""

    n: int
    queries: list[str]
    hits: list[Hit]
    new_evidence: list[str]
    verdict: Verdict | None = None
    note_before: Note | None = None
    note_after: Note | None = None
    note_rejected: bool = False
    revised: list[Evidence] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)


@dataclass
class CheckpointView:
    """One checkpoint, for read-only time travel."""

    id: str
    step: int
    source: str
    created_at: datetime
    next: tuple[str, ...]
    values: str


@dataclass
class RunView:
    """A whole run (a thread), ready to render."""

    thread_id: str
    graph: str
    namespace: str | None
    values: dict[str, Any]
    steps: list[StepView]
    rounds: list[RoundView]
    checkpoints: list[CheckpointView]
    records: list[RunRecord]
    changes: list[HistoryEntry]
    nodes: list[str]
    edges: list[tuple[str, str]]

    @property
    def path(self) -> list[str]:
        """Nodes in the order they ran."""
        return [s.node for s in self.steps]

    @property
    def taken(self) -> dict[tuple[str, str], int]:
        """Edges the run took, with how often (start and end included when the run finished)."""
        seq = ["__start__", *self.path] + (["__end__"] if self.finished else [])
        out: dict[tuple[str, str], int] = {}
        for a, b in itertools.pairwise(seq):
            out[(a, b)] = out.get((a, b), 0) + 1
        return out

    @property
    def finished(self) -> bool:
        """Whether the last checkpoint has nothing left to run."""
        return bool(self.checkpoints) and not self.checkpoints[-1].next

    def per_node(self) -> dict[str, tuple[int, float, TokenUsage]]:
        """Visits, milliseconds and tokens per node."""
        out: dict[str, tuple[int, float, TokenUsage]] = {}
        for s in self.steps:
            n, ms, tok = out.get(s.node, (0, 0.0, TokenUsage()))
            out[s.node] = (n + 1, ms + (s.duration_ms or 0.0), tok + s.tokens)
        return out

    @property
    def total_ms(self) -> float:
        """Wall time of the run(s) on this thread."""
        if self.records:
            return sum(r.duration_ms for r in self.records)
        return sum(s.duration_ms or 0 for s in self.steps)

    @property
    def usage(self) -> TokenUsage:
        """Tokens of all LLM calls."""
        total = TokenUsage()
        for s in self.steps:
            total = total + s.tokens
        return total

    @property
    def question(self) -> str:
        """The question asked (answer and chat graphs)."""
        return str(self.values.get("question") or "")

    @property
    def evidence(self) -> list[Evidence]:
        """The final evidence pool."""
        return list(self.values.get("evidence") or [])

    @property
    def citations(self) -> list[Citation]:
        """The answer's citations."""
        return list(self.values.get("citations") or [])

    @property
    def route(self) -> Route | None:
        """The route chosen."""
        route = self.values.get("route")
        return route if isinstance(route, Route) else None

    def first_round_of(self, evidence_id: str) -> int | None:
        """The round in which an evidence item entered the pool."""
        for r in self.rounds:
            if evidence_id in r.new_evidence:
                return r.n
        return None


def build_run_view(graph: Any, graph_name: str, thread_id: str, records: list[RunRecord],
                   memory: MemoryStore | None, namespace: str | None) -> RunView:
    """Gather a thread's run from its checkpoints (``graph`` compiled over them), records and history."""
    config = {"configurable": {"thread_id": thread_id}}
    history = list(reversed(list(graph.get_state_history(config))))
    if not history:
        from agentrag.errors import InputError

        raise InputError(f"no checkpointed run with thread id {thread_id!r}")
    checkpoints = [
        CheckpointView(
            id=str(s.config["configurable"]["checkpoint_id"]), step=int(s.metadata.get("step", 0)),
            source=str(s.metadata.get("source", "")), created_at=parse_ts(s.created_at), next=tuple(s.next),
            values=pretty(s.values),
        )
        for s in history
    ]
    t0 = checkpoints[0].created_at
    shift = {r.run_id: (r.started_at - t0) / timedelta(milliseconds=1) for r in records}
    visits = {(v.node, v.step): (v, shift[r.run_id]) for r in records for v in r.nodes if not v.within}
    calls: dict[tuple[str, int], list[tuple[float, LLMCall]]] = {}
    for r in records:
        for c in r.calls:
            key = (c.node, c.step) if not c.within else _enclosing(c, visits)
            calls.setdefault(key, []).append((c.start_ms + shift[r.run_id], c))
    steps: list[StepView] = []
    for i, snap in enumerate(history):
        step = int(snap.metadata.get("step", 0)) + 1
        for task in snap.tasks:
            if task.name.startswith("__"):
                continue
            started = checkpoints[i].created_at
            offset = (started - t0) / timedelta(milliseconds=1)
            duration: float | None = None
            if (task.name, step) in visits:
                visit, moved = visits[(task.name, step)]
                offset, duration = visit.start_ms + moved, visit.duration_ms
            elif i + 1 < len(checkpoints):
                duration = (checkpoints[i + 1].created_at - started) / timedelta(milliseconds=1)
            bars = calls.get((task.name, step), [])
            steps.append(StepView(
                index=len(steps) + 1, node=task.name, step=step, started=started, offset_ms=offset,
                duration_ms=duration, update=task.result if isinstance(task.result, dict) else {},
                calls=[c for _, c in bars], error=str(task.error) if task.error else None, call_bars=bars,
            ))
    values = dict(history[-1].values)
    ns = namespace or values.get("namespace")
    drawing = graph.get_graph()
    return RunView(
        thread_id=thread_id, graph=graph_name, namespace=ns, values=values, steps=steps,
        rounds=rounds_of(steps, history), checkpoints=checkpoints, records=records,
        changes=memory_changes(values, memory, ns, records), nodes=list(drawing.nodes),
        edges=[(e.source, e.target) for e in drawing.edges],
    )


def _enclosing(call: LLMCall, visits: dict[tuple[str, int], tuple[Any, float]]) -> tuple[str, int]:
    """The top-level visit of the subgraph node a nested call ran in (by name and time)."""
    for (node, step), (v, _) in visits.items():
        if node == call.within and v.start_ms <= call.start_ms <= v.start_ms + v.duration_ms:
            return node, step
    return call.within, -1


def rounds_of(steps: list[StepView], history: list[Any]) -> list[RoundView]:
    """Group the answer graph's steps into rounds, one per retrieval."""
    before = {i: history[i].values for i in range(len(history))}
    by_step = {int(h.metadata.get("step", 0)) + 1: i for i, h in enumerate(history)}
    rounds: list[RoundView] = []
    for s in steps:
        state = before.get(by_step.get(s.step, -1), {})
        u = s.update
        if s.node == "retrieve":
            asked_before = list(state.get("asked") or [])
            pool_before = {e.id for e in state.get("evidence") or []}
            rounds.append(RoundView(
                n=len(rounds) + 1, queries=list(u.get("asked") or [])[len(asked_before):],
                hits=first_of_each(u.get("hits") or []),
                new_evidence=[e.id for e in u.get("evidence") or [] if e.id not in pool_before],
            ))
        elif not rounds:
            continue
        elif s.node == "judge":
            rounds[-1].verdict = u.get("verdict")
        elif s.node == "note":
            rounds[-1].note_before = state.get("note")
            rounds[-1].note_after = u.get("note")
            rounds[-1].note_rejected = int(u.get("notes_rejected") or 0) > int(state.get("notes_rejected") or 0)
        elif s.node == "revise":
            old = {e.id: e.status for e in state.get("evidence") or []}
            rounds[-1].revised = [e for e in u.get("evidence") or [] if old.get(e.id) != e.status]
        elif s.node == "refresh":
            rounds[-1].refreshed = list(u.get("refreshed") or [])[len(state.get("refreshed") or []):]
    return rounds


def first_of_each(hits: list[Hit]) -> list[Hit]:
    """Hits of a round without repeats (several queries often find the same item), best-ranked copy kept."""
    seen: set[str] = set()
    return [h for h in hits if not (h.item.id in seen or seen.add(h.item.id))]  # type: ignore[func-returns-value]


def memory_changes(values: dict[str, Any], memory: MemoryStore | None, namespace: str | None,
                   records: list[RunRecord]) -> list[HistoryEntry]:
    """History entries the run wrote: superseded facts (answer), supersessions and writes (ingest, chat).

    Entries carrying a run id (when the history records it) are matched by id; otherwise
    by the run's time window, so an older or later change to the same item is not shown.
    """
    if memory is None or not namespace:
        return []
    ids = list(dict.fromkeys([*(values.get("refreshed") or []), *(values.get("superseded") or []),
                              *(values.get("written") or [])[:50]]))
    run_ids = {r.run_id for r in records}
    windows = [(r.started_at - timedelta(milliseconds=50), r.started_at + timedelta(milliseconds=r.duration_ms + 500))
               for r in records]
    out: list[HistoryEntry] = []
    for item_id in ids:
        for e in memory.history(namespace, item_id):
            rid = getattr(e, "run_id", None)
            in_window = not windows or any(lo <= e.at <= hi for lo, hi in windows)
            if (rid in run_ids) if rid is not None else in_window:
                out.append(e)
    return sorted(out, key=lambda e: e.seq)
