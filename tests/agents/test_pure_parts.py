"""Unit tests of the agents' pure logic (no model, no memory)."""

from datetime import UTC, datetime

from agentrag.agents.answerer import is_abstention
from agentrag.agents.constructor import batches
from agentrag.agents.evidence import add_hits, add_inferences, revise, usable
from agentrag.agents.judge import next_step, orient
from agentrag.agents.notes import stop_reason
from agentrag.agents.router import RoutePlan, plan_to_route
from agentrag.settings import NotesConfig
from agentrag.types import Conflict, Evidence, Hit, MemoryItem, Route, Verdict


def item(text, pos=0, when=None, level="raw", session=None):
    return MemoryItem.new(
        namespace="t", level=level, text=text, source_id="s", position=pos, event_time=when, session_id=session
    )


def test_router_keeps_question_first_and_dedupes():
    q = "Where does Alice live, and what is Bob's job?"
    r = plan_to_route(
        RoutePlan.model_construct(
            kind="iterative", queries=["Alice city", "alice CITY", " ", "Bob job", "iterative"], time=""
        ),
        q,
    )
    assert r.queries == (q, "Alice city", "Bob job")  # "iterative" shares no word with the question
    assert plan_to_route(RoutePlan(kind="none", queries=["x"]), "hi").queries == ()


def test_judge_orients_conflicts_by_time():
    old = item("Alice lives in Boston", 0, datetime(2023, 1, 1, tzinfo=UTC))
    new = item("Alice moved to Paris", 1, datetime(2023, 6, 1, tzinfo=UTC))
    pool = add_hits([], [Hit(item=old, score=1), Hit(item=new, score=0.9)])
    c = orient(Conflict(older="E2", newer="E1", reason="moved"), {old.id: old, new.id: new}, {e.id: e for e in pool})
    assert c == Conflict(older="E1", newer="E2", reason="moved")  # flipped by timestamps


def test_revision_cascades_to_inferences():
    pool = [Evidence(id="E1", text="Boston"), Evidence(id="E2", text="Paris")]
    pool = add_inferences(pool, [("Alice is in the US", ["E1"]), ("unsupported", []), ("cites ghost", ["E9"])])
    assert [e.id for e in pool] == ["E1", "E2", "E3"] and pool[2].status == "inferred"
    revised = revise(pool, [Conflict(older="E1", newer="E2", reason="moved")])
    by = {e.id: e for e in revised}
    assert by["E1"].status == "revised" and "contradicted by E2" in by["E1"].reason
    assert by["E3"].status == "retracted"
    assert [e.id for e in usable(revised)] == ["E2"]


def test_notes_stop_rules():
    cfg = NotesConfig(max_rejections=2, max_steps=3, max_items=15)
    assert stop_reason(2, 1, 3, 1, cfg).startswith("notes: 2 rejected")
    assert stop_reason(0, 3, 3, 1, cfg) == "notes: 3 steps"
    assert stop_reason(0, 1, 15, 1, cfg) == "notes: 15 unique items"
    assert stop_reason(0, 1, 3, 0, cfg) == "", "the extra 'no new queries' rule is off by default"
    assert stop_reason(1, 2, 14, 1, cfg) == ""
    extra = NotesConfig(stop_on_no_new_queries=True)
    assert stop_reason(0, 1, 3, 0, extra).startswith("notes: no new queries (extra rule")


def test_next_step_escalates_doubt_on_any_route_within_the_cap():
    v = Verdict(sufficient=False)
    doubt = "judge: low confidence (P=0.4)"
    for kind in ("single", "iterative"):
        assert next_step({"verdict": v, "escalation": doubt, "route": Route(kind=kind), "round": 1,
                          "max_rounds": 4}) == "note"
    assert next_step({"verdict": v, "escalation": doubt, "route": Route(kind="single"), "round": 4,
                      "max_rounds": 4}) == "answer"
    assert next_step({"verdict": v, "escalation": "", "route": Route(kind="single"), "round": 1,
                      "max_rounds": 4}) == "answer"
    ok = Verdict(sufficient=True)
    assert next_step({"verdict": ok, "route": Route(kind="iterative"), "round": 1, "max_rounds": 4}) == "answer"


def test_batches_never_mix_sessions():
    items = [item(f"t{i}", i, session="s1" if i < 10 else "s2") for i in range(13)]
    out = batches(items, size=8)
    assert [len(b) for b in out] == [8, 2, 3]
    assert all(len({i.session_id for i in b}) == 1 for b in out)


def test_abstention_phrases():
    for t in ["I don't know", "i do not know.", "Unknown", "The passages do not mention it", ""]:
        assert is_abstention(t), t
    for t in ["Paris", "Known in 1999 as X", "I know: Paris"]:
        assert not is_abstention(t), t


def test_fallback_attribution_cites_passages_containing_the_answer():
    from agentrag.agents.answerer import attribute

    pool = [
        Evidence(id="E1", text="Metallica was formed in Los Angeles.", item_id="r1"),
        Evidence(id="E2", text="Mercyful Fate is a Danish band from Copenhagen.", item_id="r2"),
    ]
    (c,) = attribute("Mercyful Fate", pool)
    assert (c.evidence_id, c.item_id, c.by) == ("E2", "r2", "overlap")
    assert attribute("Oslo", pool) == []
    assert attribute("the", pool) == []
    # words the question already has prove nothing
    assert attribute("Mercyful Fate", pool, question="What is Mercyful Fate?") == []


def test_an_answer_stitched_from_two_passages_cites_each():
    """SmolLM2 stitched a neighbouring turn's sentence before the gold one; each sentence rests on its own turn."""
    from agentrag.agents.answerer import attribute

    pool = [
        Evidence(id="E1", text="Wow, Melanie! The colors really blend nicely. Painting looks like a great outlet.",
                 item_id="r1"),
        Evidence(id="E2", text="Yeah, I painted that lake sunrise last year!", item_id="r2"),
    ]
    stitched = "The colors really blend nicely. Painting looks like a great outlet. The lake sunrise last year!"
    cited = attribute(stitched, pool, question="What did Melanie paint last year?")
    assert [c.evidence_id for c in cited] == ["E1", "E2"]
    assert [c.evidence_id for c in attribute("The colors really blend nicely.", pool)] == ["E1"]
