"""Each graph's mermaid drawing is snapshot-tested: a changed edge is a reviewed change.

Regenerate after an intended change with: UPDATE_SNAPSHOTS=1 pytest tests/graphs/test_drawings.py
"""

import os
from pathlib import Path

import pytest

from agentrag.graphs import answer, chat, ingest

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.parametrize(
    ("name", "graph", "xray"),
    [("answer", answer.graph, False), ("ingest", ingest.graph, False), ("chat", chat.graph, True)],
)
def test_mermaid_snapshot(name, graph, xray):
    drawing = graph.get_graph(xray=xray).draw_mermaid()
    path = SNAPSHOTS / f"{name}.mmd"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(drawing)
    assert drawing == path.read_text(), f"{name} graph changed; see the diff, then UPDATE_SNAPSHOTS=1"


def test_answer_graph_shows_every_conditional_edge():
    drawing = answer.graph.get_graph().draw_mermaid()
    for edge in [
        "route -.-> retrieve",
        "route -.-> answer",
        "judge -.-> refresh",
        "judge -.-> revise",
        "judge -.-> note",
        "judge -.-> answer",
        "note -.-> retrieve",
        "note -.-> answer",
        "revise -.-> note",
        "revise -.-> answer",
        "refresh --> revise",
        "retrieve -.-> judge",
        "retrieve -.-> note",
    ]:
        assert edge in drawing, edge


def test_ingest_graph_routes_conflicts_to_refresher():
    drawing = ingest.graph.get_graph().draw_mermaid()
    assert "check_consistency -.-> refresh" in drawing
    assert "check_consistency -.-> write" in drawing
