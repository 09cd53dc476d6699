"""The local llama.cpp backend reports the first reply token's log-probabilities (real SmolLM2-135M)."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from agentrag.llm.decide import ask_yes_no
from agentrag.llm.local import LocalChatModel
from agentrag.prompts import default_library

pytestmark = pytest.mark.real_model


def test_yes_no_probability_from_logprobs_then_generation_still_works():
    llm = LocalChatModel()
    try:
        prompt = default_library().render(
            "judge/sufficient", question="Who wrote Hamlet?",
            passages=[{"n": 1, "text": "William Shakespeare wrote Hamlet around 1600.", "when": "8 May 2023"}],
        )
        d = ask_yes_no(llm, prompt, top_logprobs=20)
        assert d.source == "logprobs" and d.p_yes is not None and 0.0 < d.p_yes < 1.0
        assert d.mass is not None and d.mass > 0.01
        again = ask_yes_no(llm, prompt, top_logprobs=20)  # the cached prefix is reused; same distribution
        assert again.p_yes == d.p_yes
        reply = llm.invoke([HumanMessage("Say hello.")], max_tokens=4)  # normal generation after a scoring pass
        assert isinstance(reply.content, str) and reply.content.strip()
    finally:
        llm.close()
