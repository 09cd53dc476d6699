"""Calibrated yes/no decisions, answer shortening, dates, time hints and the extraction checks (pure parts)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from langchain_core.messages import HumanMessage

from agentrag.agents.answerer import shorten
from agentrag.agents.evidence import human_date
from agentrag.agents.judge import sufficiency
from agentrag.agents.quality import copies_prompt, is_loop, reject, sentences, support
from agentrag.agents.retriever import time_window
from agentrag.llm.decide import YesNo, ask_yes_no, from_text, p_yes_from
from agentrag.prompts import default_library
from agentrag.settings import DecisionsConfig
from agentrag.testing import ScriptedChatModel


def test_p_yes_sums_yes_and_no_like_tokens():
    p, mass = p_yes_from({"Yes": math.log(0.3), " yes": math.log(0.1), "No": math.log(0.2), "The": math.log(0.4)})
    assert abs(p - 0.4 / 0.6) < 1e-9 and abs(mass - 0.6) < 1e-9
    assert p_yes_from({"The": 0.0})[0] is None


def test_word_fallback_and_unparsable():
    assert from_text("Yes, it does").p_yes == 1.0 and from_text("no.").p_yes == 0.0
    d = from_text("The passages mention it")
    assert d.source == "unparsable" and d.p_yes is None
    assert not d.at_least(0.0) and not d.below(1.0)  # unparsable is neither confident yes nor confident no


def test_scripted_backend_reports_probabilities_per_prompt_id():
    prompt = default_library().render("judge/relevant", question="q?", passage="p")
    llm = ScriptedChatModel(replies={"judge/relevant": "no"}, probabilities={"judge/relevant": [0.8, 0.3]})
    first, second = ask_yes_no(llm, prompt), ask_yes_no(llm, prompt)
    assert (first.source, first.p_yes, second.p_yes) == ("logprobs", 0.8, 0.3)
    plain = ScriptedChatModel(replies={"judge/relevant": "no"})  # no probability: the word decides
    assert ask_yes_no(plain, prompt) == YesNo(p_yes=0.0, source="text", text="no")
    reply = plain.invoke([HumanMessage("x")], prompt_id="judge/relevant", top_logprobs=5)
    assert "top_logprobs" not in reply.response_metadata


def test_sufficiency_outcomes():
    cfg = DecisionsConfig(sufficient_above=0.8, insufficient_below=0.4, abstain_below=0.1)
    out = [sufficiency(YesNo(p_yes=p, source="logprobs"), cfg) for p in (0.9, 0.5, 0.2, 0.05)]
    assert out == ["sufficient", "low confidence", "insufficient", "abstain"]
    assert sufficiency(YesNo(p_yes=None, source="unparsable"), cfg) == "unparsable"


def test_short_answers_and_dates():
    assert shorten("Are Coldplay and Pierre Bouvier from the same country?", "No, both are ...") == "no"
    assert shorten("Who directed The Visit?", "No Country for Old Men.") == "No Country for Old Men"
    assert human_date(datetime(2023, 5, 8, 13, 56, tzinfo=UTC)) == "8 May 2023"


def test_time_hint_windows():
    assert time_window("in May 2023") == (datetime(2023, 5, 1, tzinfo=UTC), datetime(2023, 6, 1, tzinfo=UTC))
    assert time_window("2022") == (datetime(2022, 1, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC))
    start, end = time_window("8 December 2023")
    assert start == datetime(2023, 12, 8, tzinfo=UTC) and (end - start).days == 1
    assert time_window("last week") is None and time_window(None) is None


def test_degenerate_extraction_is_rejected():
    src = ["Caroline went to the LGBTQ support group on 7 May 2023 and felt accepted."]
    assert is_loop("1.1.1.1.1.1.1.1") and is_loop(" ".join(["Caroline likes art."] * 6))
    assert not is_loop("Caroline went to the support group in 2000.")
    instructions = "Each fact is one short, self-contained sentence that names who or what it is about"
    assert copies_prompt("one short, self-contained sentence that names who it is", instructions)
    assert reject("Caroline went to the LGBTQ support group.", src, instructions) is None
    assert reject("Melanie bought a red sports car in Tokyo.", src, instructions) == "unsupported"
    assert support("Caroline felt accepted", src) == 1.0
    assert sentences("Hi! I went hiking. It rained all day long, sadly.", "Mel") == ["Mel: I went hiking.",
                                                                                     "Mel: It rained all day long, sadly."]
