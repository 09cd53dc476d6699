import json

import pytest

from agentrag.errors import InputError
from agentrag.ingest import Document, documents_from, to_raw_items
from agentrag.memory.chunking import chunk_text


def test_chunks_respect_limit_and_cover_text():
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 40 for i in range(10))
    chunks = chunk_text(text, max_chars=400)
    assert all(len(c.text) <= 400 for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    joined = " ".join(c.text for c in chunks)
    for i in range(10):
        assert f"Paragraph {i}." in joined


def test_long_paragraph_split_on_sentences():
    para = " ".join(f"Sentence number {i} is here." for i in range(60))
    chunks = chunk_text(para, max_chars=200)
    assert len(chunks) > 5 and all(len(c.text) <= 200 for c in chunks)


def test_ids_are_deterministic_and_namespaced():
    docs = documents_from(["Alice lives in Boston.", "Bob likes tea."])
    a = to_raw_items(docs, "ns1")
    b = to_raw_items(documents_from(["Alice lives in Boston.", "Bob likes tea."]), "ns1")
    c = to_raw_items(docs, "ns2")
    assert [i.id for i in a] == [i.id for i in b]
    assert not {i.id for i in a} & {i.id for i in c}


def test_messages_kept_whole_with_speaker():
    docs = documents_from([{"role": "user", "content": "I moved to Paris.", "session_id": "s2"}])
    item = to_raw_items(docs, "u")[0]
    assert item.speaker == "user" and item.session_id == "s2" and item.text == "I moved to Paris."


@pytest.mark.parametrize("bad", ["", "   ", "a\x00b", [], ["ok", ""]])
def test_bad_input_is_refused(bad):
    with pytest.raises(InputError):
        documents_from(bad)


def test_huge_input_is_refused():
    with pytest.raises(InputError, match="limit"):
        documents_from("x" * 101, max_chars=100)


def test_paths(tmp_path):
    from agentrag.memory.formats import load_path

    (tmp_path / "a.md").write_text("# Title\n\nSome text.")
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": "d1", "title": "T", "text": "Body."}) + "\n")
    loaded = load_path(tmp_path, "n", root=tmp_path)
    assert set(loaded.sources) == {"file:a.md", "d1"}
    (tmp_path / "c.jsonl").write_text("{not json}\n")
    with pytest.raises(InputError, match="malformed JSON at line 1"):
        load_path(tmp_path / "c.jsonl", "n")
    (tmp_path / "d.txt").write_bytes(b"\x00\x01binary")
    with pytest.raises(InputError, match="binary"):
        load_path(tmp_path / "d.txt", "n")
    with pytest.raises(InputError, match="no such file"):
        load_path(tmp_path / "missing.txt", "n")
    docs = documents_from([{"text": "x"}])
    assert isinstance(docs[0], Document)
