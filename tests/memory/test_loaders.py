"""Loaders: LoCoMo turns with sessions and dialog ids, HotpotQA paragraphs, text and Markdown chunks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from memhelpers import FIXTURES

from agentrag.errors import InputError
from agentrag.memory.loaders import file_items, locomo_items, paragraph_items, parse_locomo_time, text_items

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
    assert [i.text for i in file_items(tmp_path / "notes.md", "d")] == [i.text for i in items]


def test_files_that_are_not_text_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("  \n")
    for name, match in [("x.bin", "binary"), ("latin1.txt", "UTF-8"), ("empty.txt", "empty"), ("nope.txt", "no such")]:
        with pytest.raises(InputError, match=match):
            file_items(tmp_path / name, "d")
