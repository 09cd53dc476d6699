"""The Judge's answer check: an answer that only repeats names the question gives is asked again.

SmolLM2-135M answers about one HotpotQA question in five with a name taken from the
question itself ("Who directed the 1940 film in which John Arledge appeared?" -
"John Arledge"). On the scripted backend over real Chroma: the check asks once more
with ``answerer/not_echo`` and takes the second reply only when it is a real answer;
it never fires for option or yes/no questions, for the baselines' answer node, or
when the setting is off.
"""

from __future__ import annotations

import json

from corpus import DOCS
from test_escalation import QUESTION, replies

from agentrag.agents.answerer import echoes

ECHO = json.dumps({"answer": "Copenhagen", "citations": [1]})
REAL = json.dumps({"answer": "Mercyful Fate", "citations": [1]})
DONT_KNOW = json.dumps({"answer": "I don't know", "citations": []})


def run(rag, thread: str = "t"):
    """The whole final state, on a thread of its own (the store and its checkpoints outlive one ``rag``)."""
    graph, config = rag._graph("answer"), {"configurable": {"thread_id": thread}}
    graph.invoke({"question": QUESTION, "namespace": "ns"}, config, context=rag.deps)
    return graph.get_state(config).values


def ask(make_rag, second: str, thread: str = "t"):
    rag = make_rag({**replies("yes"), "answerer/cited": ECHO, "answerer/not_echo": second},
                   {"judge/sufficient": 0.99}, decisions={"echo_retry": True})
    rag.add(DOCS, namespace="ns", derive=False)
    return rag, run(rag, thread)


def checks(out) -> list[dict]:
    return [d for d in out["decisions"] if d["kind"] == "answer_check"]


def test_an_answer_repeating_the_question_is_replaced_by_a_real_second_answer(make_rag):
    rag, out = ask(make_rag, REAL)
    [retry] = rag.llm.calls_for("answerer/not_echo")
    shown = " ".join(str(m.content) for m in retry.messages)
    assert 'The answer is not "Copenhagen"' in shown and "Mercyful Fate is a Danish" in shown
    assert out["answer"] == "Mercyful Fate" and not out["abstained"]
    assert out["citations"] and out["citations"][0].text.startswith("Mercyful Fate")
    assert checks(out) == [{"kind": "answer_check", "echo": "Copenhagen", "source": "rule", "outcome": "replaced",
                            "answer": "Mercyful Fate"}]


def test_a_second_reply_that_abstains_or_echoes_again_keeps_the_first_answer(make_rag):
    copy = json.dumps({"answer": "The answer is not", "citations": []})  # SmolLM2 did this on the fit split
    for second, why in ((DONT_KNOW, "abstention"), (ECHO, "echo again"), ("not json at all", "unparsable"),
                        (copy, "instruction copy")):
        _, out = ask(make_rag, second, thread=why)
        assert out["answer"] == "Copenhagen" and not out["abstained"], why
        assert [d["outcome"] for d in checks(out)] == [f"kept ({why})"], why


def test_the_check_is_off_by_default_and_without_the_judge(make_rag, tmp_path):
    from langgraph.checkpoint.memory import InMemorySaver

    from agentrag.graphs.answer import Parts, build
    from agentrag.settings import load_settings

    assert load_settings(data_dir=tmp_path).decisions.echo_retry is False
    rag = make_rag({**replies("yes"), "answerer/cited": ECHO, "answerer/not_echo": REAL}, {"judge/sufficient": 0.99})
    rag.add(DOCS, namespace="ns", derive=False)
    out = run(rag)
    assert out["answer"] == "Copenhagen" and not rag.llm.calls_for("answerer/not_echo") and not checks(out)
    graph, config = build(InMemorySaver(), parts=Parts(judge=False, echo_retry=True)), {
        "configurable": {"thread_id": "no-judge"}}
    graph.invoke({"question": QUESTION, "namespace": "ns"}, config, context=rag.deps)
    assert graph.get_state(config).values["answer"] == "Copenhagen"
    assert not rag.llm.calls_for("answerer/not_echo"), "no Judge, no answer check"


def test_what_counts_as_repeating_the_question():
    asked = "Who directed the 1940 film in which John Arledge appeared?"
    assert echoes(asked, "John Arledge") and echoes(asked, "the 1940 film")
    assert not echoes(asked, "John Ford")
    assert not echoes("Who is older, Sid Haig or Vic Darchinyan?", "Sid Haig"), "an option of the question"
    assert not echoes("Between Iain Banks and Irwin Shaw, which writer had a more diverse career?", "Irwin Shaw")
    assert not echoes("Are both Coldplay and Pierre Bouvier from Canada?", "no")
    assert not echoes(asked, "")
