import json

import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from agentrag.errors import AgentRagError, ParseError
from agentrag.llm.structured import extract_json, structured
from agentrag.llm.usage import UsageTracker
from agentrag.prompts import default_library
from agentrag.testing import ScriptedChatModel


class Pick(BaseModel):
    answer: str
    citations: list[int]


def prompt():
    return default_library().render("answerer/cited", question="Who?", passages=[{"n": 1, "text": "Ann did.", "when": ""}], note="")


def test_valid_reply_is_parsed_and_schema_is_sent():
    llm = ScriptedChatModel(replies={"answerer/cited": '{"answer": "Ann", "citations": [1]}'})
    out = structured(llm, prompt(), Pick)
    assert out == Pick(answer="Ann", citations=[1])
    (call,) = llm.calls
    assert call.prompt_id == "answerer/cited"
    assert call.json_schema == Pick.model_json_schema()


def test_one_corrective_retry_then_success():
    llm = ScriptedChatModel(
        replies={"answerer/cited": ["not json at all", '```json\n{"answer": "Ann", "citations": []}\n```']}
    )
    out = structured(llm, prompt(), Pick)
    assert out.answer == "Ann"
    assert len(llm.calls) == 2
    retry_msgs = llm.calls[1].messages
    assert "was not valid" in retry_msgs[-1].content
    assert retry_msgs[-2].content == "not json at all"


def test_parse_error_names_prompt_and_shows_raw():
    llm = ScriptedChatModel(replies={"answerer/cited": ['{"answer": 3}', '{"answer": "x", "citations": "nope"}']})
    with pytest.raises(ParseError) as info:
        structured(llm, prompt(), Pick)
    assert info.value.prompt_id == "answerer/cited"
    assert "'answerer/cited'" in str(info.value) and '"citations": "nope"' in str(info.value)


def test_foreign_chat_model_gets_schema_in_prompt():
    """A plain LangChain chat model (no json_schema support) gets the schema as text."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    llm = FakeListChatModel(responses=['{"answer": "Ann", "citations": [1]}'])
    assert structured(llm, prompt(), Pick).citations == [1]


def test_extract_json_variants():
    assert json.loads(extract_json('Sure! {"a": 1} hope it helps')) == {"a": 1}
    assert json.loads(extract_json('```json\n{"a": [1]}\n```')) == {"a": [1]}


def test_scripted_model_errors_list_known_prompts_and_usage_is_tracked():
    llm = ScriptedChatModel(replies={"x/y": "hello world"})
    with pytest.raises(AgentRagError, match="scripted prompts: x/y"):
        llm.invoke([HumanMessage("hi")], prompt_id="other")
    tracker = UsageTracker()
    llm.invoke([HumanMessage("one two three")], prompt_id="x/y", config={"callbacks": [tracker]})
    chunks = list(llm.stream([HumanMessage("a b")], prompt_id="x/y", config={"callbacks": [tracker]}))
    assert "".join(c.content for c in chunks) == "hello world"
    assert tracker.total.calls == 2
    assert tracker.total.prompt_tokens == 3 + 2
    assert tracker.total.completion_tokens == 2 + 2
