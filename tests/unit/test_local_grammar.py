"""llama.cpp crashes (SIGSEGV) building a grammar for string maxLength above ~1000; the local backend clamps it."""

from pydantic import BaseModel, Field

from agentrag.llm.local import GRAMMAR_MAX_LENGTH, grammar_safe


class Part(BaseModel):
    text: str = Field(max_length=300)


class Long(BaseModel):
    body: str = Field(max_length=5000)
    parts: list[Part] = Field(default_factory=list)


class AlsoLong(BaseModel):
    summary: str = Field(max_length=2000)


def lengths(schema: object) -> list[int]:
    if isinstance(schema, dict):
        return [v for k, v in schema.items() if k == "maxLength"] + [x for v in schema.values() for x in lengths(v)]
    if isinstance(schema, list):
        return [x for v in schema for x in lengths(v)]
    return []


def test_long_max_lengths_are_clamped_short_ones_kept():
    for model in (Long, AlsoLong):
        schema = model.model_json_schema()
        assert max(lengths(schema)) > GRAMMAR_MAX_LENGTH
        safe = grammar_safe(schema)
        assert max(lengths(safe)) == GRAMMAR_MAX_LENGTH
    long = grammar_safe(Long.model_json_schema())
    assert 300 in lengths(long)  # the nested short limit is left alone
    assert grammar_safe({"type": "string"}) == {"type": "string"}
