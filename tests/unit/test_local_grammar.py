"""llama.cpp crashes (SIGSEGV) building a grammar for string maxLength above ~1000; the local backend clamps it."""

from agentrag.agents.constructor import EpisodeSummary
from agentrag.agents.notes import NoteReply
from agentrag.llm.local import GRAMMAR_MAX_LENGTH, grammar_safe


def lengths(schema: object) -> list[int]:
    if isinstance(schema, dict):
        return [v for k, v in schema.items() if k == "maxLength"] + [x for v in schema.values() for x in lengths(v)]
    if isinstance(schema, list):
        return [x for v in schema for x in lengths(v)]
    return []


def test_long_max_lengths_are_clamped_short_ones_kept():
    for model in (NoteReply, EpisodeSummary):
        schema = model.model_json_schema()
        assert max(lengths(schema)) > GRAMMAR_MAX_LENGTH
        safe = grammar_safe(schema)
        assert max(lengths(safe)) == GRAMMAR_MAX_LENGTH
    note = grammar_safe(NoteReply.model_json_schema())
    assert 300 in lengths(note)  # the inference text limit is left alone
    assert grammar_safe({"type": "string"}) == {"type": "string"}
