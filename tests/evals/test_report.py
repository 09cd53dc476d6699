"""Scoring of records and the statistics in the report."""

from __future__ import annotations

from evals.records import QuestionRecord
from evals.report import aggregate, bootstrap_ci, paired, scored


def rec(qid: str, prediction: str, *, answerable: bool = True, error: str | None = None, **kw) -> QuestionRecord:
    return QuestionRecord(method="m", qid=qid, sample_id="s", namespace="ns", category="c", question="q?",
                          gold=["mental health"] if answerable else [], answerable=answerable,
                          prediction=prediction, error=error, **kw)


def test_a_failed_question_is_wrong_even_when_unanswerable():
    failed = scored(rec("1", "", answerable=False, error="ParseError: ..."))
    assert failed["score"] == 0.0 and failed["abstain_ok"] == 0.0 and failed["abstained"] == 0.0
    assert scored(rec("2", "", answerable=False))["score"] == 1.0  # an empty answer without error declines
    answerable = scored(rec("3", "", error="BackendError: down"))
    assert answerable["score"] == answerable["f1"] == 0.0 and answerable["over_abstain"] == 0.0


def test_recall_only_for_ranked_retrieval():
    r = rec("1", "mental health", retrieved=[["D1"], ["D2"]], gold_evidence=["D2"], kprec=1.0)
    m = scored(r)
    assert m["recall@5"] == 1.0 and m["recall@all"] == 1.0 and m["kprec"] == 1.0 and m["score"] == 1.0
    dump = scored(r.model_copy(update={"retrieval": False}))
    assert dump["recall@5"] is None and dump["recall@all"] == 1.0


def test_bootstrap_is_seeded_and_brackets_the_mean():
    values = [0.0, 1.0] * 20
    lo, hi = bootstrap_ci(values)
    assert lo < 0.5 < hi and bootstrap_ci(values) == (lo, hi)
    assert bootstrap_ci([1.0]) is None


def test_paired_difference_counts_wins_losses_ties():
    a = [rec("1", "mental health"), rec("2", "nothing"), rec("3", "mental health")]
    b = [rec("1", "nothing"), rec("2", "nothing"), rec("3", "mental health"), rec("4", "x")]
    p = paired(a, b)
    assert p["n"] == 3 and (p["wins"], p["losses"], p["ties"]) == (1, 0, 2)
    assert abs(p["delta"] - 1 / 3) < 1e-3


def test_recall_is_reported_credited_and_direct():
    r = rec("1", "mental health", retrieved=[["D2", "D3"], ["D1"], ["D3"]], retrieved_levels=["fact", "raw", "raw"],
            gold_evidence=["D2", "D3"])
    got = scored(r)
    assert got["recall@5"] == 1.0 and got["direct_recall@5"] == 0.5
    assert got["recall@all"] == 1.0 and got["direct_recall@all"] == 0.5


def test_direct_recall_of_old_records_only_when_the_pool_was_all_raw():
    old = rec("1", "x", retrieved=[["D2"], ["D9"]], gold_evidence=["D2"],
              evidence=[{"id": "e1", "item_id": "a", "level": "raw"}, {"id": "e2", "item_id": "b", "level": "raw"}])
    assert scored(old)["direct_recall@5"] == 1.0
    mixed = old.model_copy(update={"evidence": [{"id": "e1", "item_id": "a", "level": "fact"}]})
    assert scored(mixed)["recall@5"] == 1.0 and scored(mixed)["direct_recall@5"] is None  # unknown, not guessed


def test_a_method_gets_no_direct_recall_when_some_questions_levels_are_unknown():
    known = rec("1", "x", retrieved=[["D2"]], retrieved_levels=["raw"], gold_evidence=["D2"])
    unknown = rec("2", "x", retrieved=[["D3"]], gold_evidence=["D9"], evidence=[{"id": "e", "level": "fact"}])
    assert aggregate([known])["direct_recall@5"] == 1.0
    both = aggregate([known, unknown])
    assert both["recall@5"] == 0.5 and both["direct_recall@5"] is None  # not 1.0 over the one known question
