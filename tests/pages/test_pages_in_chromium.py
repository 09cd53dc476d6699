"""Run and memory pages of a real multi-round run that revises evidence, rendered by headless Chromium."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from chromium import dump_dom
from dom import parse

sys.path.insert(0, str(Path(__file__).parents[1] / "tracing"))
import itertools

from scripted_runs import ANSWER_NODES, FIRST_NOTE, PATH, SECOND_NOTE, visit_every_node

from agentrag.pages.pages import memory_page, run_page


@pytest.fixture
def run(make_rag, tmp_path: Path):
    rag, answer = visit_every_node(make_rag, ns="alice", thread_id="trace-1")
    assert answer.text == "Paris" and answer.rounds == 2
    (tmp_path / "run.html").write_text(run_page(rag.settings, "trace-1", "alice", rag.memory, "memory.html"))
    (tmp_path / "memory.html").write_text(memory_page(rag.memory, "alice"))
    return rag, answer, tmp_path


def test_run_page_shows_graph_path_notes_and_revised_evidence(run) -> None:
    _rag, answer, tmp = run
    html = (tmp / "run.html").read_text()
    offline = html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http" not in offline and "<link" not in offline and " src=" not in offline  # nothing to fetch
    dom = parse(dump_dom(tmp / "run.html"))
    (body,) = dom.find("body")
    assert body.attrs.get("data-ready") == "1"  # the page's script ran in Chromium without error

    (graph,) = dom.find("svg", cls="run-graph")
    drawn = {g.attrs["data-node"] for g in graph.find("g", cls="node")}
    assert drawn == ANSWER_NODES | {"__start__", "__end__"}
    visited = {g.attrs["data-node"] for g in graph.find("g", cls="visited")}
    assert visited >= ANSWER_NODES  # this run went through every node
    edges = graph.find("path", cls="edge")
    taken = {(p.attrs["data-source"], p.attrs["data-target"]) for p in edges if "taken" in p.classes}
    path = ["__start__", *PATH, "__end__"]
    assert taken == set(itertools.pairwise(path))  # exactly the path, highlighted
    not_taken = [p for p in edges if "taken" not in p.classes]
    assert {(p.attrs["data-source"], p.attrs["data-target"]) for p in not_taken} >= {("route", "answer")}
    visits = {g.attrs["data-node"]: g.find("text", cls="sub")[0].text for g in graph.find("g", cls="visited")
              if g.find("text", cls="sub")}
    assert visits["retrieve"].startswith("\u00d72 ") and visits["note"].startswith("\u00d72 ")  # two rounds
    assert visits["judge"].startswith("\u00d71 ")  # the Judge looks once; the notes loop runs without it
    # an edge is labelled with its count only when taken more than once: on this path, none is
    assert [t.text for t in graph.find("text", cls="edge-label")] == []

    rounds = dom.find("div", cls="round")
    assert len(rounds) == 2
    # round 1: the Judge finds the conflict and the evidence not sufficient; the first note is written
    verdict = rounds[0].find("div", cls="verdict")[0].text
    assert "not sufficient" in verdict and "conflict" in verdict and "older than" in verdict
    assert "(none yet)" in rounds[0].find("div", cls="before")[0].text
    assert [n.text.strip() for n in rounds[0].find("div", cls="after")] == [FIRST_NOTE]
    # round 2 (notes loop): the note's query retrieved again and the note grew, without the Judge
    assert "Alice moved Paris" in rounds[1].text and "not judged" in rounds[1].find("div", cls="verdict")[0].text
    assert FIRST_NOTE in rounds[1].find("div", cls="before")[0].text
    assert [n.text.strip() for n in rounds[1].find("div", cls="after")] == [SECOND_NOTE]

    revised = next(e for e in answer.evidence if e.status == "revised")
    (row,) = dom.find("tr", id=f"ev-{revised.id}")
    assert "ev-revised" in row.classes and row.find("span", cls="revised")[0].text == "revised"
    assert "contradiction, P=0.99" in row.text  # why it was revised
    cited = dom.find("a", cls="cite")
    assert [a.attrs["href"] for a in cited] == [f"#ev-{c.evidence_id}" for c in answer.citations]

    # the supersede this run made (the run's other memory changes, if any, are listed beside it)
    (change,) = [c for c in dom.find("div", cls="change") if c.find("div", cls="before")
                 and "Alice lives in Boston." in c.find("div", cls="before")[0].text]
    assert "Alice lives in Boston." in change.find("div", cls="before")[0].text
    assert "Alice moved to Paris in June." in change.find("div", cls="after")[0].text
    timeline = dom.find("div", cls="row")
    assert [r.attrs["data-node"] for r in timeline] == path[1:-1]
    checkpoints = dom.find("details", cls="cp")
    assert len(checkpoints) == len(path)  # input + one per node visit
    assert "changed: " in checkpoints[2].find("span", cls="changed")[0].text  # filled in by the script


def test_memory_page_shows_levels_provenance_and_history(run) -> None:
    rag, _, tmp = run
    dom = parse(dump_dom(tmp / "memory.html"))
    assert dom.find("body")[0].attrs.get("data-ready") == "1"
    old = next(i for i in rag.memory.list("alice", "fact", include_invalid=True) if i.superseded_by)
    shown = dom.find("section", cls="shown")
    assert [s.attrs["id"] for s in shown] == [f"item-{old.id}"]  # the superseded fact's panel is shown first
    (graph,) = shown[0].find("svg", cls="prov-graph")
    levels = {c for g in graph.find("g", cls="node") for c in g.classes} & {"raw", "fact", "episode"}
    assert levels == {"raw", "fact"}  # down to the raw text
    (sup,) = graph.find("path", cls="supersede")
    assert (sup.attrs["data-source"], sup.attrs["data-target"]) == (old.id, old.superseded_by)
    events = [li.find("b")[0].text for li in shown[0].find("li")]
    assert events == ["add", "supersede"]
    rows = {s.attrs["id"] for s in dom.find("section", cls="card") if s.attrs.get("id", "").startswith("level-")}
    assert rows == {"level-raw", "level-fact", "level-episode"}
    assert dom.find("tr", id=f"row-{old.id}")[0].find("span", cls="revised")[0].text == "superseded"
