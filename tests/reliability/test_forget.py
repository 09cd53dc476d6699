"""Forgetting that forgets: after ``forget`` a unique string is nowhere under the data directory.

The string is ingested with a derived fact and an episode, then quoted by an answer
(so a checkpoint holds it); after forgetting the raw item every file under the data
dir is read as raw bytes (SQLite files with their WAL and SHM, BM25 snapshots,
Chroma's segments) and every SQLite table is dumped, and the string appears nowhere.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

SECRET = "ZX-PASSPORT-90417733"


def j(obj: object) -> str:
    return json.dumps(obj)


def facts(messages) -> str:
    text = messages[-1].content
    if SECRET in text:
        return j({"facts": [{"text": f"Alice's passport number is {SECRET}.", "from": [1], "speaker": "Alice"}]})
    if "tea" in text:
        return j({"facts": [{"text": "Alice likes green tea.", "from": [1], "speaker": "Alice"}]})
    return j({"facts": []})


def episode(messages) -> str:
    text = messages[-1].content
    if SECRET in text:
        return j({"summary": f"Alice shared her passport number {SECRET}."})
    return j({"summary": "Alice talked about tea."})


def verdict(messages) -> str:
    lines = [ln for ln in messages[-1].content.splitlines() if ln.startswith("[")]
    relevant = [int(ln.split("]")[0][1:]) for ln in lines]
    return j({"relevant": relevant, "sufficient": True, "missing": [], "conflicts": []})


def answer(messages) -> str:
    text = messages[-1].content
    return j({"answer": f"Your passport number is {SECRET}." if SECRET in text else "I do not know.", "citations": [1]})


def note(messages) -> str:
    text = messages[-1].content
    return j(
        {"note": f"The passport number is {SECRET} [1]." if SECRET in text else "", "queries": [], "inferences": []}
    )


SCRIPT = {
    "notes/update": note,
    "notes/review": j({"better": True}),
    "retriever/route": j({"kind": "single", "queries": [], "time": ""}),
    "constructor/facts": facts,
    "constructor/episode": episode,
    "judge/consistency": j({"contradicts": [], "reason": ""}),
    "judge/duplicate": j({"duplicate": False}),
    "judge/verdict": verdict,
    "answerer/cited": answer,
}

TURN = {
    "speaker": "Alice",
    "content": f"My passport number is {SECRET}, keep it safe.",
    "session_id": "s1",
    "time": "2024-03-01T10:00:00Z",
}
OTHER = {
    "speaker": "Alice",
    "content": "I like green tea in the morning.",
    "session_id": "s1",
    "time": "2024-03-01T10:01:00Z",
}


def files_holding(root: Path, needle: str) -> list[str]:
    """Every file under ``root`` whose raw bytes contain ``needle`` (UTF-8), plus SQLite tables that do."""
    raw = needle.encode()
    found = [str(p.relative_to(root)) for p in sorted(root.rglob("*")) if p.is_file() and raw in p.read_bytes()]
    for db in sorted(root.rglob("*")):
        if db.is_file() and db.read_bytes()[:16] == b"SQLite format 3\x00":
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                dump = "\n".join(conn.iterdump())
            finally:
                conn.close()
            if needle in dump:
                found.append(f"dump of {db.relative_to(root)}")
    return found


def ingest_and_quote(rag, ns: str) -> str:
    bob = {
        "speaker": "Bob",
        "content": "Noted, and tea sounds nice.",
        "session_id": "s1",
        "time": "2024-03-01T10:02:00Z",
    }
    rag.add([TURN, OTHER, bob], namespace=ns)
    fact = [it for it in rag.memory.list(ns, "fact") if SECRET in it.text]
    ep = [it for it in rag.memory.list(ns, "episode") if SECRET in it.text]
    assert fact and ep, "the derived fact and episode quote the secret"
    a = rag.ask("What is my passport number?", namespace=ns)
    assert SECRET in a.text
    raw = [it for it in rag.memory.list(ns, "raw") if SECRET in it.text]
    assert len(raw) == 1
    return raw[0].id


def test_forget_leaves_no_trace_on_disk(make_rag, tmp_path):
    rag = make_rag(dict(SCRIPT))
    ns = "alice"
    raw_id = ingest_and_quote(rag, ns)
    data = tmp_path / "data"
    assert files_holding(data, SECRET), "before forgetting, the secret is on disk (the check can see it)"

    n = rag.forget([raw_id], namespace=ns, reason="user asked")
    assert n == 3  # the raw turn, its fact and its episode
    assert files_holding(data, SECRET) == []

    # the history keeps a tombstone without the text
    tomb = [h for h in rag.history(raw_id, namespace=ns) if h.event == "forget"]
    assert len(tomb) == 1 and tomb[0].reason == "user asked" and tomb[0].before and tomb[0].before.startswith("sha256:")
    assert all(SECRET not in (h.before or "") + (h.after or "") + h.reason for h in rag.history(raw_id, namespace=ns))

    # the namespace still works: what was not derived from it is there, new items are searchable
    assert any("tea" in it.text for it in rag.memory.list(ns, "raw"))
    rag.add(["Alice's cat is called Miso."], namespace=ns, derive=False)
    hits = rag.search("cat called Miso", namespace=ns)
    assert hits and "Miso" in hits[0].item.text
    assert all(SECRET not in h.item.text for h in rag.search("passport number", namespace=ns))


def test_cli_forget_all_erases_one_end_user(make_rag, tmp_path, monkeypatch, embedder):
    from typer.testing import CliRunner

    from agentrag import cli_memory
    from agentrag.cli import OPTS, app

    rag = make_rag(dict(SCRIPT))
    ingest_and_quote(rag, "alice")
    rag.add(["Bob keeps bees on the roof."], namespace="bob", derive=False)
    data = tmp_path / "data"
    held = rag.memory.count("alice", include_invalid=True)

    monkeypatch.setattr(cli_memory, "_embedder", embedder)
    for var in ("AGENTRAG_CONFIG", "AGENTRAG_LLM__KIND", "AGENTRAG_LLM__BASE_URL", "AGENTRAG_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    OPTS.data_dir, OPTS.config, OPTS.debug = None, None, False
    env = {"AGENTRAG_DATA_DIR": str(data)}
    runner = CliRunner()
    both = runner.invoke(app, ["memory", "forget", "-n", "alice", "r-x", "--all", "-y"], env=env)
    assert both.exit_code == 2 and "not both" in both.stderr and "Traceback" not in both.stderr
    res = runner.invoke(app, ["memory", "forget", "-n", "alice", "--all", "-y"], env=env)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    assert f"forgot all {held} item(s)" in " ".join(res.stdout.split())
    assert files_holding(data, SECRET) == []
    assert rag.memory.count("alice") == 0 and rag.memory.count("bob") == 1  # only alice is gone
    again = runner.invoke(app, ["memory", "forget", "-n", "alice", "--all", "-y"], env=env)
    assert again.exit_code == 3 and "holds nothing" in again.stderr

    rag.add(["Alice starts afresh with a new note."], namespace="alice", derive=False)
    assert "afresh" in rag.search("new note", namespace="alice")[0].item.text


def test_forget_zeroes_heap_bytes_in_unused_hnsw_capacity(make_rag, tmp_path):
    """hnswlib writes its whole ``malloc``-ed level-0 array, so unused slots hold freed heap bytes: any text.

    The full run of 2 Dec found the secret in a ``data_level0.bin`` about once in six
    runs. Here the secret is planted past ``cur_element_count`` in every collection's
    file (alice's and bob's: heap garbage knows no tenant) and forget must zero it,
    while both namespaces still answer searches.
    """
    from agentrag.memory.purge import _hnsw_used_end

    rag = make_rag(dict(SCRIPT))
    raw_id = ingest_and_quote(rag, "alice")
    rag.add(["Bob keeps bees on the roof."], namespace="bob", derive=False)
    chroma = tmp_path / "data" / "chroma"
    planted = 0
    for level0 in chroma.glob("*/data_level0.bin"):
        used_end = _hnsw_used_end(level0.with_name("header.bin"))
        size = level0.stat().st_size
        if used_end is not None and size - used_end > 64:
            with level0.open("r+b") as f:
                f.seek(size - 64)
                f.write(SECRET.encode())
            planted += 1
    assert planted >= 4, "raw, fact and episode of alice, raw of bob: each file has unused capacity to plant in"
    assert rag.forget([raw_id], namespace="alice", reason="user asked") == 3
    assert files_holding(tmp_path / "data", SECRET) == []
    assert "bees" in rag.search("bees", namespace="bob")[0].item.text
    rag.add(["Alice's cat is called Miso."], namespace="alice", derive=False)
    assert "Miso" in rag.search("cat called Miso", namespace="alice")[0].item.text


def test_forget_on_the_postgres_state_store_leaves_no_trace(make_rag, tmp_path, pg_dsn):
    """The same with history and checkpoints in Postgres: the data dir and a ``pg_dump`` are clean."""
    import glob
    import subprocess

    rag = make_rag(dict(SCRIPT), state={"kind": "postgres", "dsn": pg_dsn})
    raw_id = ingest_and_quote(rag, "alice")
    dumps = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), key=lambda p: int(p.split("/")[4]))
    pg_dump = dumps[-1] if dumps else "pg_dump"  # the server's own version (a newer client refuses older dumps)

    def dump() -> str:
        return subprocess.run([pg_dump, "--dbname", pg_dsn], check=True, capture_output=True, text=True).stdout

    assert SECRET in dump(), "before forgetting, the dump shows the secret (the check can see it)"
    assert rag.forget([raw_id], namespace="alice", reason="user asked") == 3
    assert SECRET not in dump()
    assert files_holding(tmp_path / "data", SECRET) == []
    rag.add(["Alice's cat is called Miso."], namespace="alice", derive=False)
    assert "Miso" in rag.search("cat called Miso", namespace="alice")[0].item.text


def test_forget_with_a_chroma_server(make_rag, tmp_path, chroma_server, tmp_path_factory):
    """With a Chroma server on this machine (``chroma.purge_path``): its files are clean too."""
    server_dirs = list(tmp_path_factory.getbasetemp().glob("chroma-server[0-9]*/data"))
    assert len(server_dirs) == 1
    rag = make_rag(dict(SCRIPT), chroma={**chroma_server.model_dump(), "purge_path": str(server_dirs[0])})
    raw_id = ingest_and_quote(rag, "alice-srv")
    assert server_dirs and any(files_holding(d, SECRET) for d in server_dirs)
    assert rag.forget([raw_id], namespace="alice-srv", reason="user asked") == 3
    assert files_holding(tmp_path / "data", SECRET) == []
    assert [f for d in server_dirs for f in files_holding(d, SECRET)] == []
    rag.add(["Alice's cat is called Miso."], namespace="alice-srv", derive=False)
    assert "Miso" in rag.search("cat called Miso", namespace="alice-srv")[0].item.text
