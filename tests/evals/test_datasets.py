"""Dataset loaders on the committed excerpts (tests never read ../shared)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from agentrag.errors import InputError
from evals.build import namespace_for, sessions_in_order
from evals.datasets import load_dataset, parse_evidence

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "evals"


def test_locomo_turns_questions_and_categories():
    ds = load_dataset("locomo", FIXTURES / "locomo_mini.json")
    docs = ds.samples["conv-26"].documents
    assert len(docs) == 20  # session 3 has a date but no turns: skipped
    first = docs[0]
    assert first.source_id == "D1:1" and first.meta["dia_id"] == "D1:1" and first.speaker == "Caroline"
    assert first.event_time is not None and first.event_time.isoformat().startswith("2023-05-08T13:56")
    photo = next(d for d in docs if d.source_id == "D1:5")
    assert "[shares a photo:" in photo.text  # the caption is kept: questions ask about photos
    assert [g[0].session_id for g in sessions_in_order(docs)] == ["conv-26:session_1", "conv-26:session_2"]

    assert Counter(q.category for q in ds.questions) == {
        "temporal": 3, "multi-hop": 2, "open-domain": 1, "single-hop": 2, "adversarial": 2,
    }
    numeric = next(q for q in ds.questions if q.qid == "conv-26/1")
    assert numeric.answers == ("2022",)  # an int in the file
    adversarial = [q for q in ds.questions if q.category == "adversarial"]
    assert all(not q.answerable and q.answers == () and q.adversarial_answer for q in adversarial)
    assert next(q for q in ds.questions if q.qid == "conv-26/0").evidence == ("D1:3",)


def test_select_is_deterministic_and_stratified():
    ds = load_dataset("locomo", FIXTURES / "locomo_mini.json")
    one_each = ds.select(per_category=1)
    assert len(one_each) == 5 and len({q.category for q in one_each}) == 5
    assert [q.qid for q in ds.select(limit=3)] == ["conv-26/0", "conv-26/1", "conv-26/2"]
    with pytest.raises(InputError, match="unknown samples"):
        ds.select(samples=["conv-99"])


def test_malformed_locomo_evidence_is_repaired():
    assert parse_evidence(["D8:6; D9:17", "D:11:26", "D", "D30:05", "D1:3 D1:4", "D1:3"]) == (
        "D8:6", "D9:17", "D11:26", "D30:5", "D1:3", "D1:4",
    )


def test_hotpotqa_paragraphs_share_the_question_session(tmp_path):
    ds = load_dataset("hotpotqa", FIXTURES / "hotpotqa_mini.jsonl")
    q = ds.questions[0]
    assert q.answers == ("Orissa",) and q.category == "bridge" and len(q.evidence) == 2
    docs = ds.samples[q.sample_id].documents
    assert {d.session_id for d in docs} == {q.qid}
    assert set(q.evidence) <= {d.source_id for d in docs}
    assert docs[0].text.startswith("Aranyaka (film)\n")


def test_musique_aliases_and_nq_corpus(tmp_path):
    row = json.loads((FIXTURES / "hotpotqa_mini.jsonl").read_text().splitlines()[0])
    row.update(id="2hop__1_2", type="2hop", answer_aliases=["Odisha"], answerable=True)
    (tmp_path / "mq.jsonl").write_text(json.dumps(row) + "\n")
    mq = load_dataset("musique", tmp_path / "mq.jsonl")
    assert mq.questions[0].answers == ("Orissa", "Odisha") and mq.questions[0].category == "2hop"

    (tmp_path / "raw").mkdir()
    (tmp_path / "nq.jsonl").write_text(json.dumps({"id": "t1", "question": "who?", "golden_answers": ["A", "B"]}) + "\n")
    (tmp_path / "raw" / "wiki_sample_corpus1000.jsonl").write_text(
        json.dumps({"id": "0", "contents": '"Evan Morris"\nEvan Morris was a lobbyist.'}) + "\n"
    )
    nq = load_dataset("nq", tmp_path / "nq.jsonl")
    doc = nq.samples["corpus"].documents[0]
    assert doc.title == "Evan Morris" and doc.text == "Evan Morris was a lobbyist." and doc.source_id == "nq-0"
    assert nq.questions[0].answers == ("A", "B") and nq.questions[0].sample_id == "corpus"


def test_bad_inputs_fail_clearly(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_dataset("locomo", tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("[{}]")
    with pytest.raises(InputError, match="original schema"):
        load_dataset("locomo", tmp_path / "x.json")
    with pytest.raises(InputError, match="valid: locomo, hotpotqa, musique, nq"):
        load_dataset("squad", tmp_path / "x.json")


def test_namespaces_are_valid_and_distinct():
    from agentrag.memory import validate_namespace

    a = namespace_for("hotpotqa", "5adf0ae45542992d7e9f9286", "raw")
    b = namespace_for("hotpotqa", "5adf0ae45542992d7e9f9286", "derived")
    assert a != b and validate_namespace(a) == a and validate_namespace(b) == b
    assert validate_namespace(namespace_for("musique", "2hop__1/2 x", "raw"))
