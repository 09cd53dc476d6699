"""Every metric against hand-computed cases."""

from __future__ import annotations

import pytest

from evals import metrics as m


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("The Cat", "cat"),
        ("  a  dog,   an apple. ", "dog apple"),
        ("Theatre", "theatre"),  # "the" only as a whole word
        ("U.S.A.", "usa"),
        ("rock-'n'-roll!", "rocknroll"),
        (2022, "2022"),  # LoCoMo has integer answers
        ("7 May, 2023", "7 may 2023"),
        ("", ""),
    ],
)
def test_normalize_answer(raw, norm):
    assert m.normalize_answer(raw) == norm


def test_exact_match_uses_best_gold_and_normalisation():
    assert m.exact_match("the Dodgers", ["Los Angeles Dodgers", "Dodgers"]) == 1.0
    assert m.exact_match("Dodgers win", ["Dodgers"]) == 0.0
    assert m.exact_match("2022", [2022]) == 1.0
    assert m.exact_match("anything", []) == 0.0


def test_f1_hand_computed():
    # pred tokens: adoption agencies near home (4); gold: adoption agencies (2); common 2
    # precision 2/4, recall 2/2 -> F1 = 2 * 0.5 * 1 / 1.5 = 2/3
    assert m.f1_score("Adoption agencies near home", ["Adoption agencies"]) == pytest.approx(2 / 3)
    assert m.f1_score("mental health", ["mental health"]) == 1.0
    assert m.f1_score("physical", ["mental health"]) == 0.0
    # repeated tokens count once per occurrence: pred "health health", gold "mental health": common 1
    # precision 1/2, recall 1/2 -> 0.5
    assert m.f1_score("health health", ["mental health"]) == pytest.approx(0.5)
    # best of several golds
    assert m.f1_score("Brooklyn Robins", ["Los Angeles Dodgers", "Brooklyn Robins"]) == 1.0
    # articles and punctuation do not count as tokens
    assert m.f1_score("The sunday.", ["sunday"]) == 1.0
    assert m.f1_score("", ["x"]) == 0.0


def test_token_recall_rewards_verbose_correct_answers():
    verbose = "She went to the LGBTQ support group on 7 May 2023, a Sunday."
    assert m.token_recall(verbose, ["7 May 2023"]) == 1.0
    assert m.f1_score(verbose, ["7 May 2023"]) < 0.5
    # 1 of the 3 gold tokens ("may") is present
    assert m.token_recall("in May", ["7 May 2023"]) == pytest.approx(1 / 3)
    assert m.token_recall("x", []) == 0.0


def test_k_precision_is_share_of_answer_tokens_in_evidence():
    evidence = ["Caroline went to an LGBTQ support group yesterday.", "Melanie paints."]
    # answer tokens: caroline, went, to, group, in, paris -> 4 of 6 in the evidence
    assert m.k_precision("Caroline went to a group in Paris", evidence) == pytest.approx(4 / 6)
    assert m.k_precision("Caroline", evidence) == 1.0
    assert m.k_precision("anything", []) is None  # no evidence shown (closed book)
    assert m.k_precision("", evidence) is None


@pytest.mark.parametrize(
    "text",
    ["I don't know", "I do not know.", "Not mentioned in the conversation", "unknown",
     "The passages do not mention it", "There is no information about that.", "Cannot be determined", ""],
)
def test_says_no_answer(text):
    assert m.says_no_answer(text)


@pytest.mark.parametrize("text", ["self-care is important", "No", "Theatre in May", "She knows it"])
def test_real_answers_are_not_abstentions(text):
    assert not m.says_no_answer(text)


def test_abstention_scoring_on_unanswerable_questions():
    assert m.abstention_correct("I don't know", abstained=True) == 1.0
    assert m.abstention_correct("Not mentioned.", abstained=False) == 1.0  # said so in words
    assert m.abstention_correct("self-care is important", abstained=False) == 0.0  # the adversarial answer
    # two LoCoMo category-5 items also have a gold answer ("No"); giving it is right too
    assert m.abstention_correct("no", abstained=False, golds=["No"]) == 1.0
    assert m.abstention_correct("yes", abstained=False, golds=["No"]) == 0.0


def test_score_headline_per_question_kind():
    unanswerable = m.score("I don't know", True, [], answerable=False)
    assert unanswerable["score"] == 1.0 and unanswerable["abstain_ok"] == 1.0 and unanswerable["f1"] is None
    fooled = m.score("self-care is important", False, [], answerable=False)
    assert fooled["score"] == 0.0 and fooled["abstained"] == 0.0
    answered = m.score("Adoption agencies", False, ["adoption agencies"], answerable=True)
    assert answered == {"score": 1.0, "abstain_ok": None, "em": 1.0, "f1": 1.0, "recall": 1.0, "abstained": 0.0}
    # abstaining on an answerable question scores 0 and counts as declined
    declined = m.score("I don't know", True, ["Orissa"], answerable=True)
    assert declined["score"] == 0.0 and declined["recall"] == 0.0 and declined["abstained"] == 1.0


def test_recall_at_k():
    retrieved = [["D1:1"], ["D2:3", "D2:4"], ["D5:1"], []]
    assert m.recall_at_k(retrieved, ["D2:3", "D5:1"], k=1) == 0.0
    assert m.recall_at_k(retrieved, ["D2:3", "D5:1"], k=2) == 0.5
    assert m.recall_at_k(retrieved, ["D2:3", "D5:1"], k=3) == 1.0
    assert m.recall_at_k(retrieved, ["D2:3", "D9:9"]) == 0.5  # all retrieved
    assert m.recall_at_k(retrieved, []) is None  # no gold evidence: undefined, not zero
    assert m.recall_at_k([], ["D1:1"]) == 0.0


def test_direct_recall_counts_only_raw_items_but_derived_items_keep_their_rank():
    # rank 1: a fact derived from D2:3 and D5:1; rank 2: the raw turn D1:1; rank 3: the raw turn D5:1
    retrieved = [["D2:3", "D5:1"], ["D1:1"], ["D5:1"]]
    levels = ["fact", "raw", "raw"]
    gold = ["D2:3", "D5:1"]
    assert m.recall_at_k(retrieved, gold, k=1) == 1.0  # credited: the fact stands for both turns
    assert m.direct_recall_at_k(retrieved, levels, gold, k=1) == 0.0  # no raw gold passage in the top 1
    assert m.direct_recall_at_k(retrieved, levels, gold, k=2) == 0.0  # the fact still took rank 1
    assert m.direct_recall_at_k(retrieved, levels, gold, k=3) == 0.5  # D5:1 found as itself
    assert m.direct_recall_at_k(retrieved, levels, gold) == 0.5
    assert m.direct_recall_at_k(retrieved, levels, []) is None


def test_direct_and_credited_recall_agree_on_raw_only_lists():
    retrieved = [["D1:1"], ["D2:3"], ["D5:1"]]
    gold = ["D2:3", "D5:1"]
    for k in (1, 2, 3, None):
        assert m.direct_recall_at_k(retrieved, ["raw"] * 3, gold, k) == m.recall_at_k(retrieved, gold, k)


def test_direct_recall_rejects_misaligned_levels():
    with pytest.raises(ValueError, match="2 levels for 3"):
        m.direct_recall_at_k([["a"], ["b"], ["c"]], ["raw", "raw"], ["a"])
