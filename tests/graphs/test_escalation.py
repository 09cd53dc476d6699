"""Escalation rules and the additive-evidence floor, on the scripted backend over real Chroma.

Each rule has its own test: an "insufficient" verdict, a low-confidence one and an
unparsable reply each move a single-route question into the notes loop; a confident
"sufficient" does not; the answer's evidence always contains naive retrieval's raw
top-k, compared against a naive search over the same store.
"""

from __future__ import annotations

import json
import re

from corpus import DOCS

from agentrag.agents.retriever import related
from agentrag.memory.store import SearchFilters
from agentrag.types import MemoryItem

ROUTE_SINGLE = json.dumps({"kind": "single", "queries": [], "time": ""})
NOTE = json.dumps({"note": "Mercyful Fate is from Copenhagen [1].", "queries": ["rare demo tracks"], "inferences": []})
ANSWER = json.dumps({"answer": "Mercyful Fate", "citations": [1]})
QUESTION = "Which Copenhagen band released rare demo tracks?"


def replies(judge: str) -> dict[str, object]:
    return {
        "retriever/route": ROUTE_SINGLE,
        "judge/sufficient": judge,
        "judge/relevant": "no",
        "notes/update": NOTE,
        "notes/review": json.dumps({"better": True}),
        "answerer/cited": ANSWER,
    }


def ask(make_rag, judge: str, probability: float | None, **settings):
    probs = {"judge/sufficient": probability} if probability is not None else {}
    notes = {"max_rejections": 2, "max_steps": 2, "max_items": 99, **settings.pop("notes", {})}
    rag = make_rag(replies(judge), probs, notes=notes, **settings)
    rag.add(DOCS, namespace="ns", derive=False)
    return rag, run(rag)


def run(rag):
    """The whole final state (the graph's output schema shows only part of it)."""
    graph, config = rag._graph("answer"), {"configurable": {"thread_id": "t"}}
    graph.invoke({"question": QUESTION, "namespace": "ns"}, config, context=rag.deps)
    return graph.get_state(config).values


def test_insufficient_verdict_on_single_route_escalates_to_notes(make_rag):
    rag, out = ask(make_rag, "no", 0.1)
    assert out["route"].kind == "single"
    assert out["escalation"].startswith("judge: insufficient")
    assert rag.llm.calls_for("notes/update"), "single + insufficient must reach the notes loop"
    assert out["stop_reason"] == "notes: 2 steps"


def test_low_confidence_verdict_escalates_to_notes(make_rag):
    rag, out = ask(make_rag, "yes", 0.6, decisions={"sufficient_above": 0.8, "insufficient_below": 0.4})
    assert out["escalation"].startswith("judge: low confidence")
    assert rag.llm.calls_for("notes/update")


def test_unparsable_verdict_is_not_sufficient(make_rag):
    rag, out = ask(make_rag, "The passages mention a band.", None)  # no logprobs, no yes/no word
    decision = [d for d in out["decisions"] if d["kind"] == "sufficient"][-1]
    assert decision["source"] == "unparsable" and decision["p_yes"] is None
    assert not out["verdict"].sufficient
    assert out["escalation"].startswith("judge: unparsable")
    assert rag.llm.calls_for("notes/update")


def test_confident_sufficient_answers_without_the_loop(make_rag):
    rag, out = ask(make_rag, "yes", 0.97)
    assert out["verdict"].sufficient and out["escalation"] == ""
    assert not rag.llm.calls_for("notes/update")
    assert out["answer"] == "Mercyful Fate"


def test_escalation_respects_the_round_cap(make_rag):
    rag, out = ask(make_rag, "no", 0.1, max_rounds=1)
    assert not rag.llm.calls_for("notes/update")
    assert out["answer"] == "Mercyful Fate"


def naive_hits(rag, question: str):
    """What naive_rag shows: the raw top-k of the question, hybrid search, noise filtered."""
    found = rag.memory.search(
        "ns", question, k=rag.settings.retrieval.top_k, filters=SearchFilters(levels=("raw",)), mode="hybrid"
    )
    return [h for h in found if related(h)]


def naive_top_k(rag, question: str) -> list[str]:
    return [h.item.id for h in naive_hits(rag, question)]


def shown_item_ids(rag, out) -> set[str]:
    """Memory items behind the evidence the answer prompt was given."""
    from agentrag.agents.evidence import shown_to_answer

    return {e.item_id for e in shown_to_answer(out) if e.item_id}


def test_answer_evidence_contains_naive_top_k_even_when_the_judge_drops_everything(make_rag):
    facts = [
        MemoryItem.new(namespace="ns", level="fact", text=f"Mercyful Fate fact number {i} about Copenhagen demos.",
                       source_id="facts", position=i)
        for i in range(4)
    ]
    rag = make_rag(
        {**replies("no"), "judge/relevant": "no"},
        {"judge/sufficient": 0.1, "judge/relevant": 0.0},  # the Judge calls every passage irrelevant
        notes={"max_rejections": 2, "max_steps": 2, "max_items": 99},
        retrieval={"top_k": 3},
        evidence={"derived_levels": True, "budget_tokens": 20},
    )
    rag.add(DOCS, namespace="ns", derive=False)
    rag.memory.add("ns", facts)
    out = run(rag)
    naive = naive_top_k(rag, QUESTION)
    assert len(naive) == 3
    assert set(naive) <= shown_item_ids(rag, out)
    assert out["dropped"], "the Judge dropped additions"
    assert not set(out["dropped"]) & set(out["floor"])
    assert out["budget"]["added_tokens"] <= 20 and out["budget"]["skipped"] > 0


def test_answer_evidence_contains_naive_top_k_with_sub_queries_and_time_hint(make_rag):
    route = json.dumps({"kind": "single", "queries": ["band formed in Los Angeles", "demo tracks of Amy Johnson"],
                        "time": "1981"})
    rag = make_rag({**replies("yes"), "retriever/route": route}, {"judge/sufficient": 0.99, "judge/relevant": 0.9},
                   retrieval={"top_k": 2})
    rag.add(DOCS, namespace="ns", derive=False)
    out = run(rag)
    shown = shown_item_ids(rag, out)
    assert set(naive_top_k(rag, QUESTION)) <= shown
    assert len(shown) > 2, "sub-queries add to the floor"
    assert out["budget"]["floor_tokens"] > 0 and out["budget"]["added_tokens"] > 0


def prompt_passages(rag) -> list[str]:
    """The passage texts of the last answer prompt, in the order the model read them."""
    user = rag.llm.calls_for("answerer/cited")[-1].messages[-1].content
    return re.findall(r"^\[\d+\](?: \([^)]*\))? (.*)$", user, flags=re.M)


def sub_query_run(make_rag, **settings) -> tuple[list[str], list[str]]:
    """The answer prompt's passages and naive retrieval's top-2, for a route whose sub-queries add passages."""
    route = json.dumps({"kind": "single", "queries": ["band formed in Los Angeles", "demo tracks of Amy Johnson"],
                        "time": ""})
    rag = make_rag({**replies("yes"), "retriever/route": route}, {"judge/sufficient": 0.99, "judge/relevant": 0.9},
                   retrieval={"top_k": 2}, **settings)
    rag.add(DOCS, namespace="ns", derive=False)
    run(rag)
    return prompt_passages(rag), [h.item.text for h in naive_hits(rag, QUESTION)]


def test_floor_first_order_starts_with_naive_top_k_in_rank_order(make_rag):
    shown, naive = sub_query_run(make_rag, evidence={"order": "floor_first"})
    assert len(naive) == 2 and len(shown) > 2, "the sub-queries added passages"
    assert shown[:2] == naive, "naive retrieval's top-k comes first, in its rank order"
    assert not set(shown[2:]) & set(naive)


def test_default_order_shows_naive_top_k_and_the_additions_once_each(make_rag):
    shown, naive = sub_query_run(make_rag)
    assert len(shown) > 2 and set(naive) <= set(shown), "the answer sees naive retrieval's whole top-k"
    assert len(shown) == len(set(shown))


def test_floor_last_order_puts_naive_top_k_next_to_the_question(make_rag):
    shown, naive = sub_query_run(make_rag, evidence={"order": "floor_last"})
    assert len(shown) > 2 and shown[-2:] == naive
    assert not set(shown[:-2]) & set(naive)


def test_calibrated_abstention(make_rag):
    rag, out = ask(make_rag, "no", 0.02, decisions={"abstain_below": 0.05})
    assert out["abstained"] and out["stop_reason"] == "judge: answer not in memory"
    assert not rag.llm.calls_for("answerer/cited") and not rag.llm.calls_for("notes/update")


def test_an_answer_that_does_not_parse_with_the_note_is_asked_again_from_the_passages(make_rag):
    """SmolLM2 sometimes copies the schema's description in a loop until the JSON is cut: a parse error.

    The answer must then come from the passages alone (plain retrieval's prompt), not be an error.
    """
    cut = '{"answer": "The answer, short; I do not know if not in the passages, if it is not in the passages, if it is'

    def answer(messages) -> str:
        # the corrective retry shows the same prompt again: the model loops again (as SmolLM2 did)
        return cut if any("Mercyful Fate is from Copenhagen" in str(m.content) for m in messages) else ANSWER

    rag = make_rag({**replies("no"), "answerer/cited": answer}, {"judge/sufficient": 0.1},
                   notes={"max_rejections": 2, "max_steps": 2, "max_items": 99})
    rag.add(DOCS, namespace="ns", derive=False)
    out = run(rag)
    prompts = [" ".join(str(m.content) for m in c.messages) for c in rag.llm.calls_for("answerer/cited")]
    assert len(prompts) == 3, "the note's prompt, its corrective retry, then the passages alone"
    assert all("Mercyful Fate is from Copenhagen" in p for p in prompts[:2])
    assert "Mercyful Fate is from Copenhagen" not in prompts[2]
    assert out["answer"] == "Mercyful Fate" and not out["abstained"]


def test_a_note_step_with_nothing_unseen_is_rejected_without_a_call(make_rag):
    """When a round retrieves nothing the note has not seen, no candidate note can add to it.

    Before, the step showed the whole pool again (the router's additions included), paying for
    every passage once more; now it counts as a rejected note without a call.
    """
    rag = make_rag(replies("no"), {"judge/sufficient": 0.1}, retrieval={"top_k": 10},
                   notes={"max_rejections": 1, "max_steps": 5, "max_items": 99}, max_rounds=5)
    rag.add(DOCS, namespace="ns", derive=False)
    out = run(rag)
    assert out["stop_reason"] == "notes: 1 rejected notes"
    assert out["notes_steps"] == 2 and out["note"].text == "Mercyful Fate is from Copenhagen [1]."
    assert len(rag.llm.calls_for("notes/update")) == 1, "the second step had nothing unseen to note"


SCHEMA_COPY = json.dumps({"answer": "The answer, short; 'I don't know' if not in the passages", "citations": []})
ECHO = json.dumps({"answer": "Which Copenhagen band released rare demo tracks", "citations": [1]})


def test_an_answer_that_copies_the_schema_or_restates_the_question_is_asked_from_the_passages(make_rag):
    """SmolLM2 answers "The answer, short; 'I don't know' if not ..." or restates the question.

    Neither is an answer: with a note, the passages alone are asked, as plain retrieval would be.
    """
    for bad in (SCHEMA_COPY, ECHO):
        def answer(messages, bad=bad) -> str:
            return bad if any("Mercyful Fate is from Copenhagen" in str(m.content) for m in messages) else ANSWER

        rag = make_rag({**replies("no"), "answerer/cited": answer}, {"judge/sufficient": 0.1},
                       notes={"max_rejections": 2, "max_steps": 2, "max_items": 99})
        rag.add(DOCS, namespace="ns", derive=False)
        out = run(rag)
        assert len(rag.llm.calls_for("answerer/cited")) == 2, bad
        assert out["answer"] == "Mercyful Fate" and not out["abstained"], bad


def test_a_schema_copy_with_nothing_to_fall_back_on_is_an_abstention_not_an_answer(make_rag):
    rag = make_rag({**replies("yes"), "answerer/cited": SCHEMA_COPY}, {"judge/sufficient": 0.99})
    rag.add(DOCS, namespace="ns", derive=False)
    out = run(rag)
    assert out["abstained"] and out["stop_reason"] == "answer: prompt copy"


def test_a_short_answer_naming_an_option_of_the_question_is_an_answer():
    from agentrag.agents.answerer import degenerate

    assert degenerate("Which Copenhagen band released rare demo tracks?", "Which Copenhagen band released rare demo") \
        == "question restated"
    assert degenerate("Who was born first, Amy Johnson or Chiang Kai-shek?", "Amy Johnson") is None
    assert degenerate("Is Mercyful Fate from Copenhagen?", "yes") is None
    assert degenerate("Where is Mercyful Fate from?", "The answer, short; 'I don't know' if not in") == "prompt copy"


def test_a_schema_copy_loop_cut_by_the_token_limit_is_an_abstention_not_an_error(make_rag):
    """Without a note there is nothing to fall back on; a reply that loops until it is cut is no answer."""
    cut = '{"answer": "The answer, short; \'I don\'t know\' if not in the passages, if it is not, if it is not, if it'
    rag = make_rag({**replies("yes"), "answerer/cited": cut}, {"judge/sufficient": 0.99})
    rag.add(DOCS, namespace="ns", derive=False)
    out = run(rag)
    assert out["abstained"] and out["stop_reason"] == "answer: prompt copy"
    assert len(rag.llm.calls_for("answerer/cited")) == 2  # the reply and its corrective retry


def test_with_the_notes_loop_off_an_escalated_question_is_answered_from_the_first_evidence(make_rag):
    """The shipped default (``notes.enabled`` false): escalation has no loop to enter; the answer comes at once."""
    rag, out = ask(make_rag, "no", 0.1, notes={"enabled": False})
    assert out["escalation"] and not rag.llm.calls_for("notes/update")
    assert out["stop_reason"].startswith("escalated (") and out["stop_reason"].endswith("notes loop off or capped")
    assert out["answer"] == "Mercyful Fate"


def test_the_notes_loop_is_off_by_default_and_a_part_can_force_it_on(make_rag, tmp_path):
    from langgraph.checkpoint.memory import InMemorySaver

    from agentrag.graphs.answer import Parts, build
    from agentrag.settings import load_settings

    assert load_settings(data_dir=tmp_path).notes.enabled is False
    rag = make_rag(replies("no"), {"judge/sufficient": 0.1}, notes={"enabled": False, "max_steps": 1})
    rag.add(DOCS, namespace="ns", derive=False)
    graph, config = build(InMemorySaver(), parts=Parts(notes=True)), {"configurable": {"thread_id": "forced"}}
    graph.invoke({"question": QUESTION, "namespace": "ns"}, config, context=rag.deps)
    assert len(rag.llm.calls_for("notes/update")) == 1 and graph.get_state(config).values["stop_reason"] == \
        "notes: 1 steps"
