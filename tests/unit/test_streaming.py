import json

from agentrag.streaming import AnswerTextStream


def feed_all(pieces):
    s = AnswerTextStream()
    return "".join(s.feed(p) for p in pieces), s


def test_extracts_answer_field_token_by_token():
    raw = json.dumps({"answer": 'Paris, "the" city\nof light é', "citations": [1, 2]})
    out, s = feed_all(list(raw))  # one character per token, escapes split across tokens
    assert out == 'Paris, "the" city\nof light é'
    assert s.done


def test_unicode_escape_split_across_chunks():
    out, _ = feed_all(['{"answer": "caf', "\\u00", "e9", '!"}'])
    assert out == "café!"


def test_nothing_before_the_key_and_nothing_after_the_value():
    out, s = feed_all(['{"citations": [1], ', '"answer"', ': "ok"', ', "x": "no"}'])
    assert out == "ok" and s.done
