"""gold_context: a diagnostic, not a baseline: the answer node shown exactly the question's gold evidence.

No retrieval or agent strategy can show the answer better passages than the ones the
dataset marks as supporting the answer (HotpotQA's supporting paragraphs, MuSiQue's
supporting paragraphs, LoCoMo's evidence turns). So this is the ceiling of everything
retrieval and the agents can do for a given generator: when it scores about what
``naive_rag`` does, the generator's reading, not the evidence, limits the score, and no
change to routing, the Judge or the notes loop can lift a method much above plain
retrieval. The runner hands the gold source ids only to a graph whose state has a
``gold_evidence`` channel, i.e. only to this method.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agentrag.agents.answerer import answer
from agentrag.agents.evidence import add_hits
from agentrag.deps import Deps, deps_of
from agentrag.types import Evidence, Hit, Route
from evals.methods.common import MethodOptions, MethodState
from evals.methods.full_context import all_raw


class GoldState(MethodState, total=False):
    """The method state plus the question's gold evidence (memory ``source_id`` values)."""

    gold_evidence: list[str]


class GoldUpdate(TypedDict):
    """What ``load_gold`` writes."""

    route: Route
    hits: list[Hit]
    evidence: list[Evidence]
    round: int
    max_rounds: int


def load_gold(state: GoldState, runtime: Runtime[Deps]) -> GoldUpdate:
    """The raw items whose source is gold evidence, in time (insertion) order: a paragraph's every chunk."""
    gold = set(state.get("gold_evidence", []))
    items = [i for i in all_raw(deps_of(runtime).memory, state["namespace"]) if i.source_id in gold]
    hits = [Hit(item=i, score=1.0, rank=n) for n, i in enumerate(items, 1)]
    route = Route(kind="single", levels=("raw",), reason="gold evidence (diagnostic ceiling)")
    return {"route": route, "hits": hits, "evidence": add_hits([], hits), "round": 1, "max_rounds": 1}


def build_gold_context(options: MethodOptions) -> CompiledStateGraph[Any, Any, Any, Any]:
    """load the gold evidence -> answer."""
    g = StateGraph(GoldState, context_schema=Deps)
    g.add_node("load_gold", load_gold)
    g.add_node("answer", answer)
    g.add_edge(START, "load_gold")
    g.add_edge("load_gold", "answer")
    g.add_edge("answer", END)
    return g.compile(name="gold_context")
