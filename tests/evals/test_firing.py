"""The "What fired" counts of the focused read: outcomes, and reads that saw a second-hop passage."""

from __future__ import annotations

from evals.firing import firing, section
from evals.records import QuestionRecord


def record(qid: str, *decisions: dict[str, object]) -> QuestionRecord:
    return QuestionRecord(method="agentrag", qid=qid, sample_id=qid, namespace="ns", category="bridge",
                          question="q?", gold=["a"], answerable=True, decisions=list(decisions))


def test_focus_outcomes_and_second_hop_reads_are_counted():
    records = [
        record("1", {"kind": "focus", "outcome": "answered", "hop": 1}),
        record("2", {"kind": "focus", "outcome": "answered", "hop": 0}),
        record("3", {"kind": "focus", "outcome": "no answer (abstention)", "hop": 2}),
        record("4"),
        record("5", {"kind": "focus", "outcome": "answered; used (the reply from all the evidence was no answer)"}),
    ]
    fired = firing(records)
    assert fired["focus_outcomes"] == {"answered": 2, "no answer (abstention)": 1,
                                       "answered; used (the reply from all the evidence was no answer)": 1}
    assert fired["counts"]["focused"] == 3
    assert fired["focus_hops"] == 2
    assert "with a second-hop passage 2;" in "\n".join(section({"methods": {"agentrag": {"firing": fired}}}))
