"""Loaders: LoCoMo turns with sessions and dialog ids, HotpotQA paragraphs, text and Markdown chunks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from memhelpers import FIXTURES

from agentrag.errors import InputError
from agentrag.memory.formats import load_file, load_path, refuse_reason, source_id_for
from agentrag.memory.loaders import locomo_items, paragraph_items, parse_locomo_time, record_fields, text_items

LOCOMO = FIXTURES / "locomo_conv26_excerpt.json"


def test_locomo_turns_keep_sessions_speakers_times_and_dialog_ids() -> None:
    items = locomo_items(LOCOMO, "u1")
    assert len(items) == 58
    first = items[0]
    assert first.meta["dia_id"] == "D1:1" and first.speaker == "Caroline" and first.session_id == "conv-26:session_1"
    assert first.event_time == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert {i.session_id for i in items} == {f"conv-26:session_{n}" for n in (1, 2, 3)}  # dangling session_4 date
    assert [i.position for i in items] == list(range(58))
    assert len({i.id for i in items}) == 58
    assert [i.id for i in items] == [i.id for i in locomo_items(LOCOMO, "u1")]  # deterministic ids
    photo = [i for i in items if "blip_caption" in i.meta]
    assert len(photo) == 7 and all("[shares a photo: " in i.text for i in photo)
    gold = {e for q in json.loads(LOCOMO.read_text())[0]["qa"] for e in q["evidence"]}
    assert gold <= {i.meta["dia_id"] for i in items}
    bare = locomo_items(LOCOMO, "u1", include_captions=False)
    assert all("[shares a photo" not in i.text for i in bare)


def test_locomo_errors() -> None:
    with pytest.raises(InputError, match="no LoCoMo conversation"):
        locomo_items(LOCOMO, "u1", samples=["conv-99"])
    with pytest.raises(InputError, match="session time"):
        parse_locomo_time("yesterday")
    assert parse_locomo_time("10:04 am on 19 January, 2023") == datetime(2023, 1, 19, 10, 4, tzinfo=UTC)


def test_hotpotqa_paragraphs_deduplicate_by_doc_id() -> None:
    path = FIXTURES / "hotpotqa_excerpt.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    items = paragraph_items(path, "h")
    doc_ids = {p["doc_id"] for r in rows for p in r["paragraphs"]}
    assert len(items) == len(doc_ids) and {i.source_id for i in items} == doc_ids
    aranyaka = next(i for i in items if i.meta.get("title") == "Aranyaka (film)")
    assert aranyaka.text.startswith("Aranyaka (film)\nAranyaka (A Trip Into the Jungle)")
    assert aranyaka.meta["dataset"] == "hotpotqa_excerpt"
    corpus = [{"doc_id": "d1", "title": "T", "text": "Body."}, {"doc_id": "d1", "title": "T", "text": "Body."}]
    assert [i.text for i in paragraph_items(corpus, "h", dataset="musique")] == ["T\nBody."]


def test_markdown_is_split_at_headings(tmp_path: Path) -> None:
    md = "Intro line.\n\n# Setup\n\nInstall it.\n\n## Linux\n\nUse apt.\n\n# Usage\n\nRun it.\n"
    items = text_items(md, "d", source_id="readme", markdown=True)
    assert [(i.text, i.meta.get("heading")) for i in items] == [
        ("Intro line.", None),
        ("Install it.", "Setup"),
        ("Use apt.", "Setup > Linux"),
        ("Run it.", "Usage"),
    ]
    long = "\n\n".join(f"Paragraph {n} " + "word " * 60 for n in range(10))
    chunks = text_items(long, "d", source_id="long", max_chars=800)
    assert len(chunks) > 1 and all(len(c.text) <= 800 for c in chunks)
    (tmp_path / "notes.md").write_text(md)
    assert [i.text for i in load_file(tmp_path / "notes.md", "d").items] == [i.text for i in items]


def test_files_that_are_not_text_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("  \n")
    for name, match in [("x.bin", "unsupported file type '.bin'"), ("latin1.txt", "UTF-8"), ("empty.txt", "empty"), ("nope.txt", "no such")]:
        with pytest.raises(InputError, match=match):
            load_file(tmp_path / name, "d")


def test_documents_are_named_by_their_path_relative_to_the_root(tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "README.md").write_text(f"Project {sub}.\n")
    loaded = load_path(tmp_path, "d", root=tmp_path)
    assert set(loaded.sources) == {"file:a/README.md", "file:b/README.md"}
    assert len({i.id for i in loaded.items}) == 2
    assert source_id_for(Path("/elsewhere/x.md"), tmp_path) == "file:/elsewhere/x.md"
    assert load_file(tmp_path / "a" / "README.md", "d", source_id="mine").items[0].source_id == "mine"


def test_one_record_reading_for_files_and_the_api(tmp_path: Path) -> None:
    from agentrag.ingest import documents_from, to_raw_items

    msg = {"speaker": "Alice", "content": "I moved to Paris!", "session_id": "s2", "time": "2023-06-05T10:00:00Z"}
    fields = record_fields(msg, "here")
    assert (fields["speaker"], fields["session_id"], fields["event_time"].month, fields["chunk"]) == ("Alice", "s2", 6, False)
    (tmp_path / "chat.jsonl").write_text(json.dumps(msg) + "\n")
    from_file = load_file(tmp_path / "chat.jsonl", "d").items[0]
    from_api = to_raw_items(documents_from([msg]), "d")[0]
    for it in (from_file, from_api):
        assert (it.speaker, it.session_id, it.event_time, it.text) == ("Alice", "s2", fields["event_time"], msg["content"])
    with pytest.raises(InputError, match="here: time 'soon' is not an ISO date"):
        record_fields({**msg, "time": "soon"}, "here")
    doc = record_fields({"id": "d1", "title": "T", "text": "Body."}, "here")
    assert (doc["source_id"], doc["title"], doc["chunk"]) == ("d1", "T", True)


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("a.pdf", b"%PDF-1.4", "PDF files are not supported"),
        ("a.csv", b"a,b\n", "CSV files are not supported"),
        ("a.docx", b"PK\x03\x04", "Word files are not supported"),
        ("a.txt", b"%PDF-1.4 renamed", "PDF files are not supported"),
        ("a.xyz", b"hello", "unsupported file type '.xyz'"),
    ],
)
def test_formats_we_cannot_read_are_named(tmp_path: Path, name: str, content: bytes, needle: str) -> None:
    (tmp_path / name).write_bytes(content)
    assert needle in (refuse_reason(tmp_path / name) or "")
    with pytest.raises(InputError, match=needle.split(" files")[0]):
        load_file(tmp_path / name, "d")


def test_jsonl_errors_carry_the_files_own_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"text": "a"}\n\n\n{"text": }\n')
    with pytest.raises(InputError, match="line 4"):
        load_file(tmp_path / "x.jsonl", "d")
    (tmp_path / "y.jsonl").write_text('{"text": "a"}\n["not", "an object"]\n')
    with pytest.raises(InputError, match="line 2 is list"):
        load_file(tmp_path / "y.jsonl", "d")


def test_folder_skips_what_it_cannot_read_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("Fine text.\n")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "t.csv").write_text("a,b\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.txt").write_text("secret\n")
    loaded = load_path(tmp_path, "d", root=tmp_path)
    assert [i.text for i in loaded.items] == ["Fine text."]
    assert sorted((p.name, why.split(";")[0]) for p, why in loaded.skipped) == [
        ("empty.txt", "file is empty"),
        ("t.csv", "CSV files are not supported"),
    ]
