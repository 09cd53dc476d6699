"""The speaker-attribution abstention: an event pinned on the wrong speaker is "not in memory".

Real Chroma and embedder, scripted generator. The same two turns answer one question
(Melanie ran the race; asked about Melanie) and must refuse its adversarial twin (asked
about Caroline), without a generator call for the refusal; a margin of None switches the
rule off, and then the twin is answered like any other question.
"""

from __future__ import annotations

import json

from agentrag.agents.attribution import attribution_lead, candidate_names, without_name
from agentrag.types import MemoryItem

TURNS = [
    {"speaker": "Caroline", "content": "Hey Mel, how have you been? I went to a support group yesterday.",
     "session_id": "s1"},
    {"speaker": "Melanie", "content": "I ran a charity race for mental health last Saturday and realized "
     "self-care is really important.", "session_id": "s1"},
    {"speaker": "Caroline", "content": "The support group made me feel accepted and brave.", "session_id": "s1"},
]
ANSWER = json.dumps({"answer": "self-care is important", "citations": [1]})


def ask(make_rag, question: str, margin: float | None):
    replies = {"answerer/cited": ANSWER, "judge/sufficient": "yes", "judge/relevant": "yes"}  # the hop adds a turn
    rag = make_rag(replies, decisions={"attribution_margin": margin})
    rag.add(TURNS, namespace="chat", derive=False)
    graph, config = rag._graph("answer"), {"configurable": {"thread_id": "t"}}
    graph.invoke({"question": question, "namespace": "chat"}, config, context=rag.deps)
    return rag, graph.get_state(config).values


def test_an_event_of_another_speaker_is_not_in_memory(make_rag):
    rag, out = ask(make_rag, "What did Caroline realize after her charity race?", 0.2)
    assert out["abstained"] is True
    assert out["stop_reason"] == "judge: answer not in memory"
    [d] = [d for d in out["decisions"] if d["kind"] == "attribution"]
    assert d["speaker"] == "Caroline" and d["outcome"] == "abstain" and d["lead"] > 0.2
    assert not rag.llm.calls_for("answerer/cited"), "the refusal needs no generator call"


def test_the_right_speaker_is_answered(make_rag):
    _, out = ask(make_rag, "What did Melanie realize after her charity race?", 0.2)
    assert out["abstained"] is False and out["answer"] == "self-care is important"
    assert not [d for d in out["decisions"] if d["kind"] == "attribution"]


def test_no_margin_means_no_attribution_check(make_rag):
    _, out = ask(make_rag, "What did Caroline realize after her charity race?", None)
    assert out["abstained"] is False
    assert not [d for d in out["decisions"] if d["kind"] == "attribution"]


def turn(speaker: str, text: str) -> MemoryItem:
    return MemoryItem.new(namespace="chat", level="raw", text=text, source_id=f"{speaker}:{text[:8]}", speaker=speaker)


def test_names_and_leads():
    assert candidate_names("What did Caroline realize after her charity race?") == ["Caroline"]
    assert candidate_names("What did Caroline's friend Melanie bake?") == ["Caroline", "Melanie"]
    assert without_name("What is Caroline's job?", "Caroline") == "What is  job?"
    turns = [turn(t["speaker"], t["content"]) for t in TURNS]

    def own(speaker: str, query: str) -> list[MemoryItem]:
        return [t for t in turns if t.speaker == speaker]

    name, lead = attribution_lead("What did Caroline realize after her charity race?", turns, own)
    assert name == "Caroline" and lead > 0.5
    name, lead = attribution_lead("What did Melanie realize after her charity race?", turns, own)
    assert name == "Melanie" and lead < 0
    assert attribution_lead("What did Caroline and Melanie realize?", turns, own) is None  # two speakers named
    assert attribution_lead("What did Ana realize after the race?", turns, own) is None  # not a speaker
    lives = [turn("Alice", "I moved to Paris last spring."), turn("Bob", "Bob lives in Boston and works nights.")]

    def own_of_lives(speaker: str, query: str) -> list[MemoryItem]:
        return [t for t in lives if t.speaker == speaker]

    assert attribution_lead("Where does Alice live?", lives, own_of_lives) is None  # one content word: too little
    name, lead = attribution_lead("Where does Alice live and work nights?", lives, own_of_lives)
    assert name == "Alice" and lead > 0.5
    plain = [MemoryItem.new(namespace="chat", level="raw", text="a race", source_id="d")]
    assert attribution_lead("What did Caroline realize?", plain, own) is None  # not a conversation


def test_the_shipped_margin_is_the_calibrated_one(tmp_path):
    """``python -m evals.calibrate_attribution`` writes the margin; the default must be what it wrote."""
    from pathlib import Path

    from agentrag.settings import load_settings

    fitted = json.loads((Path(__file__).parents[2] / "evals" / "calibration" / "attribution.json").read_text())
    assert load_settings(data_dir=tmp_path).decisions.attribution_margin == fitted["margin_above"]
    assert fitted["fit"]["over_abstention"] <= fitted["max_over_abstention"] < 0.1


def test_a_turn_asking_the_named_speaker_about_the_event_is_not_the_asker_s_event():
    """"Love the tattoo, did you just get it?" is Jon's tattoo, not Gina's (LoCoMo conv-30, a fit question)."""
    turns = [turn("Gina", "Love the tattoo, did you just get it? You look great with it."),
             turn("Jon", "Thanks! It means a lot to me.")]

    def own(speaker: str | None, query: str) -> list[MemoryItem]:
        return [t for t in turns if speaker is None or t.speaker == speaker]

    name, lead = attribution_lead("When did Jon get his tattoo?", turns, own)
    assert name == "Jon" and lead <= 0
    said = [turn("Gina", "I just got my first tattoo yesterday!"), turns[1]]

    def own_said(speaker: str | None, query: str) -> list[MemoryItem]:
        return [t for t in said if speaker is None or t.speaker == speaker]

    name, lead = attribution_lead("When did Jon get his tattoo?", said, own_said)
    assert name == "Jon" and lead > 0


def test_the_other_side_is_also_searched_without_the_name():
    """The question's name pulls the hits to the named speaker's turns; the other speaker's event is found anyway."""
    turns = [turn(t["speaker"], t["content"]) for t in TURNS]
    caroline_only = [t for t in turns if t.speaker == "Caroline"]

    def search(speaker: str | None, query: str) -> list[MemoryItem]:
        return [t for t in turns if speaker is None or t.speaker == speaker]

    name, lead = attribution_lead("What did Caroline realize after her charity race?", caroline_only, search)
    assert name == "Caroline" and lead > 0.5

    def named_only(speaker: str | None, query: str) -> list[MemoryItem]:
        return [] if speaker is None else search(speaker, query)

    _, lead = attribution_lead("What did Caroline realize after her charity race?", caroline_only, named_only)
    assert lead <= 0
