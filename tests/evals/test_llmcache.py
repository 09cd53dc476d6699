"""The evaluation reply cache: an identical request is replayed from disk, a different one is not."""

from __future__ import annotations

from langchain_core.messages import HumanMessage

from agentrag.testing import ScriptedChatModel
from evals.llmcache import attach


def test_identical_requests_are_replayed_and_others_are_not(tmp_path):
    llm = ScriptedChatModel(replies={"p": ["first", "second", "third"]})
    cache = attach([llm], tmp_path / "replies.sqlite")
    ask = [HumanMessage("hello")]
    assert llm.invoke(ask, prompt_id="p").content == "first"
    assert llm.invoke(ask, prompt_id="p").content == "first", "the second identical request is the stored reply"
    assert llm.invoke(ask, prompt_id="p", stop=["\n"]).content == "second", "other options: another request"
    assert cache.counts() == {"hits": 1, "misses": 2}
    cache.close()
    again = ScriptedChatModel(replies={"p": ["first", "second", "third"]})
    reopened = attach([again], tmp_path / "replies.sqlite")
    assert again.invoke(ask, prompt_id="p").content == "first", "replies survive a new process (a resumed run)"
    assert reopened.counts()["hits"] == 1 and not again.calls_for("p")
