"""Ingest that never overwrites or goes stale, keeps chat metadata, and explains what it skipped."""

from __future__ import annotations

import json
from pathlib import Path

from clihelpers import Run

CHAT = [
    {"speaker": "Alice", "content": "I live in Boston.", "session_id": "s1", "time": "2023-01-05T10:00:00Z"},
    {"speaker": "Alice", "content": "I moved to Paris!", "session_id": "s2", "time": "2023-06-05T10:00:00Z"},
]


def _items(run: Run, ns: str = "u", *extra: str) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(run("memory", "list", "-n", ns, "--limit", "100", "--json", *extra).out)


def test_same_base_name_in_two_folders_are_two_documents(run: Run, tmp_path: Path) -> None:
    for sub, text in (("a", "Alpha project uses Postgres."), ("b", "Beta project uses SQLite.")):
        (tmp_path / "docs" / sub).mkdir(parents=True)
        (tmp_path / "docs" / sub / "README.md").write_text(text + "\n")
    res = run("ingest", "docs", "-n", "u", "--no-derive")
    assert "2 documents from 2 files" in res.flat
    assert {i["source_id"] for i in _items(run)} == {"file:docs/a/README.md", "file:docs/b/README.md"}
    # one after the other, from another folder: still two documents, the first is not replaced
    run("ingest", "docs/a/README.md", "-n", "v", "--no-derive")
    run("ingest", "docs/b/README.md", "-n", "v", "--no-derive")
    assert sorted(i["text"] for i in _items(run, "v")) == ["Alpha project uses Postgres.", "Beta project uses SQLite."]
    run("ingest", "docs/b/README.md", "-n", "w", "--no-derive", "--source-id", "handbook")
    assert [i["source_id"] for i in _items(run, "w")] == ["handbook"]


def test_reingesting_a_shortened_file_retires_its_old_chunks(run: Run, tmp_path: Path) -> None:
    paras = [f"Paragraph {n}: " + ("lorem ipsum dolor sit amet " * 25) for n in range(3)]
    doc = tmp_path / "notes.txt"
    doc.write_text("\n\n".join(paras))
    run("ingest", "notes.txt", "-n", "u", "--no-derive")
    before = _items(run)
    assert len(before) == 3
    doc.write_text("Just one line now.\n")
    res = run("ingest", "notes.txt", "-n", "u", "--no-derive")
    assert "2 old chunks retired" in res.flat
    assert [i["text"] for i in _items(run)] == ["Just one line now."]
    gone = [i for i in _items(run, "u", "--include-invalid") if i["valid_to"] is not None]
    assert len(gone) == 2  # kept, not deleted
    history = json.loads(run("memory", "history", "-n", "u", gone[0]["id"], "--json").out)
    assert [e["event"] for e in history] == ["add", "invalidate"] and "notes.txt" in history[-1]["reason"]
    # memory add --file follows the same rule
    doc.write_text("\n\n".join(paras))
    run("memory", "add", "-n", "m", "--file", "notes.txt")
    doc.write_text("Short again.\n")
    assert json.loads(run("memory", "add", "-n", "m", "--file", "notes.txt", "--json").out)["retired"]
    assert [i["text"] for i in _items(run, "m")] == ["Short again."]


def test_chat_jsonl_keeps_speaker_session_and_time(run: Run, tmp_path: Path) -> None:
    (tmp_path / "chat.jsonl").write_text("".join(json.dumps(m) + "\n" for m in CHAT))
    run("ingest", "chat.jsonl", "-n", "u", "--no-derive")
    items = _items(run)
    assert [(i["speaker"], i["session_id"], i["event_time"][:10]) for i in items] == [
        ("Alice", "s1", "2023-01-05"),
        ("Alice", "s2", "2023-06-05"),
    ]
    hits = json.loads(run("memory", "search", "-n", "u", "Where does Alice live", "--since", "2023-03-01", "--json").out)
    assert [h["item"]["text"] for h in hits] == ["I moved to Paris!"]
    # memory add --file reads the same format the same way (not the whole file as one item)
    run("memory", "add", "-n", "m", "--file", "chat.jsonl")
    assert [(i["speaker"], i["text"]) for i in _items(run, "m")] == [("Alice", m["content"]) for m in CHAT]


def test_unreadable_formats_are_refused_by_name(run: Run, tmp_path: Path) -> None:
    (tmp_path / "fake.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n")
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    (tmp_path / "report.txt").write_bytes(b"%PDF-1.7\nbinary")
    for name, fmt in (("fake.pdf", "PDF"), ("table.csv", "CSV"), ("report.txt", "PDF")):
        res = run("ingest", name, "-n", "u", "--no-derive", code=2)
        assert f"{fmt} files are not supported" in res.flat and "malformed JSON" not in res.flat
        res = run("memory", "add", "-n", "u", "--file", name, code=2)
        assert f"{fmt} files are not supported" in res.flat


def test_bad_jsonl_line_is_reported_with_its_own_number(run: Run, tmp_path: Path) -> None:
    (tmp_path / "docs.jsonl").write_text('{"id": "d1", "text": "fine"}\n\n{"id": "d2", "text": oops}\n')
    res = run("ingest", "docs.jsonl", "-n", "u", "--no-derive", code=2)
    assert "malformed JSON at line 3" in res.flat
    (tmp_path / "docs.jsonl").write_text('{"id": "d1", "text": "fine"}\n{"id": "d2", "title": "no text"}\n')
    assert "line 2" in run("ingest", "docs.jsonl", "-n", "u", "--no-derive", code=2).flat


def test_folder_ingest_reports_skipped_files_and_goes_on(run: Run, tmp_path: Path) -> None:
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "good.md").write_text("# Title\n\nSomething worth keeping.\n")
    (tmp_path / "f" / "empty.txt").write_text("")
    (tmp_path / "f" / "table.csv").write_text("a,b\n")
    res = run("ingest", "f", "-n", "u", "--no-derive")
    assert "skipped f/empty.txt: file is empty" in res.flat
    assert "skipped f/table.csv: CSV files are not supported" in res.flat
    assert "1 documents from 1 files" in res.flat and "2 files skipped" in res.flat
    assert [i["text"] for i in _items(run)] == ["Something worth keeping."]
