"""Hostile input through the CLI, the Python API and HTTP: a clear refusal, no traceback, nothing written.

The cases are the catalogue in ``hostile_cases.py`` (id, surface, input, expected
outcome). Each runs against a memory that already holds a document and a checkpointed
run, and the store's footprint (every SQLite table's row count under the data dir,
and the set of files) must be the same afterwards: a refused input writes nothing,
not even a checkpoint of the run that would have refused it later.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from hostile_cases import CASES, MAX_MESSAGE, Case, Link
from typer.testing import CliRunner

from agentrag import cli_memory
from agentrag.api import AgentRAG
from agentrag.cli import OPTS, app
from agentrag.errors import AgentRagError
from agentrag.memory.embedder import CachedEmbedder
from agentrag.server.app import create_app
from agentrag.settings import load_settings
from agentrag.testing import ScriptedChatModel

NS = "u"
DOC = "Mercyful Fate is a Danish heavy metal band from Copenhagen."
QUESTION = "Which band is from Copenhagen?"
SCRIPT = {
    "retriever/route": '{"kind": "single", "queries": [], "time": ""}',
    "judge/sufficient": "yes",
    "notes/update": '{"note": "", "queries": [], "inferences": []}',
    "notes/review": '{"better": false}',
    "answerer/cited": '{"answer": "Mercyful Fate", "citations": [1]}',
}
JOURNALS = ("-wal", "-shm", "-journal")


def footprint(data: Path) -> dict[str, Any]:
    """Row counts of every table of every SQLite file under ``data``, and the names of its files.

    Journals are left out of the file list (SQLite makes and drops them on reads too).
    """
    out: dict[str, Any] = {}
    files = sorted(p for p in data.rglob("*") if p.is_file())
    out["files"] = [str(p.relative_to(data)) for p in files if not p.name.endswith(JOURNALS)]
    for db in files:
        with db.open("rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                continue
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for t in tables:
                out[f"{db.relative_to(data)}:{t}"] = conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
        finally:
            conn.close()
    return out


def holding(data: Path, needle: str) -> list[str]:
    """Files under ``data`` whose bytes contain ``needle``."""
    raw = needle.encode()
    return [str(p) for p in data.rglob("*") if p.is_file() and raw in p.read_bytes()]


def check_message(message: str, case: Case) -> None:
    """Short, names the problem, no traceback."""
    assert message.strip(), case.id
    assert len(message) <= MAX_MESSAGE, (case.id, len(message), message[:200])
    assert case.needle.lower() in message.lower(), (case.id, case.needle, message)
    assert "Traceback" not in message, (case.id, message)


def cases(surface: str) -> list[Any]:
    return [pytest.param(c, id=c.id) for c in CASES if c.surface == surface]


def test_the_catalogue_is_complete() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids are unique"
    per = {s: sum(c.surface == s for c in CASES) for s in ("cli", "api", "http")}
    assert len(CASES) >= 50 and min(per.values()) >= 15, per


# -- Python API and HTTP: one AgentRAG, served -----------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, embedder: CachedEmbedder) -> Iterator[tuple[AgentRAG, Any, Path]]:
    data = tmp_path_factory.mktemp("hostile-api") / "data"
    settings = load_settings(data_dir=data, router={"kind": "llm"})
    rag = AgentRAG(settings, llm=ScriptedChatModel(replies=SCRIPT), embedder=embedder)
    # Without keys, so a hostile namespace reaches the library as given (keys: tests/test_openai_serve.py).
    with TestClient(create_app(rag=rag, auth=False)) as client:
        rag.add(DOC, namespace=NS, derive=False)
        assert rag.ask(QUESTION, namespace=NS).text == "Mercyful Fate"  # every file a run makes exists now
        assert client.get(f"/v1/{NS}/search", params={"q": "band"}).status_code == 200
        yield rag, client, data
    rag.close()


@pytest.mark.parametrize("case", cases("api"))
def test_python_api_refuses_with_a_typed_error_and_writes_nothing(
    case: Case, served: tuple[AgentRAG, Any, Path]
) -> None:
    rag, _, data = served
    method, args, kwargs = case.call
    target: Any = rag.memory if method.startswith("memory.") else rag
    before = footprint(data)
    with pytest.raises(AgentRagError) as info:
        getattr(target, method.removeprefix("memory."))(*args, **kwargs)
    assert type(info.value).__name__ == case.expect, (case.id, repr(info.value)[:300])
    check_message(str(info.value), case)
    assert footprint(data) == before, case.id


@pytest.mark.parametrize("case", cases("http"))
def test_http_refuses_with_a_4xx_in_the_one_error_shape_and_writes_nothing(
    case: Case, served: tuple[AgentRAG, Any, Path]
) -> None:
    _, client, data = served
    method, url, request = case.call
    status, error = case.expect.split()
    before = footprint(data)
    r = client.request(method, url, **request)
    body = r.json()
    assert r.status_code == int(status), (case.id, r.status_code, str(body)[:300])
    assert set(body) == {"error", "status", "detail", "fields"}, (case.id, body)
    assert (body["status"], body["error"]) == (int(status), error), (case.id, body)
    check_message(body["detail"], case)
    assert footprint(data) == before, case.id


# -- CLI: the real command in process, on its own data dir -----------------------------------------------
@dataclass
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def agentrag_cli(tmp_path_factory: pytest.TempPathFactory, embedder: CachedEmbedder) -> Iterator[Any]:
    """``run(args, cwd, env)`` runs ``agentrag`` in ``cwd`` against one data dir holding a document and a run."""
    data = tmp_path_factory.mktemp("hostile-cli") / "data"
    script = yaml.safe_dump(SCRIPT).encode()
    runner = CliRunner()

    def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Ran:
        OPTS.data_dir, OPTS.config, OPTS.debug = None, None, False
        (cwd / "script.yaml").write_bytes(script)
        full = {"AGENTRAG_DATA_DIR": str(data), "AGENTRAG_ROUTER__KIND": "llm", **(env or {})}
        for var in ("AGENTRAG_CONFIG", "AGENTRAG_LLM__KIND", "AGENTRAG_LLM__BASE_URL"):
            full.setdefault(var, None)  # type: ignore[arg-type]  (None unsets it for the run)
        with contextlib.chdir(cwd):
            res = runner.invoke(app, args, env=full)
        return Ran(res.exit_code, res.stdout, res.stderr)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli_memory, "_embedder", embedder)
        home = tmp_path_factory.mktemp("hostile-cli-home")
        assert run(["memory", "add", "-n", NS, DOC], home).code == 0
        seeded = run(["ask", QUESTION, "-n", NS, "--script", "script.yaml", "--no-stream"], home)
        assert seeded.code == 0 and "Mercyful Fate" in seeded.out, seeded
        yield run, data


def make_files(root: Path, files: dict[str, bytes | Link]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Link):
            os.symlink(content.target, path)
        else:
            path.write_bytes(content)


@pytest.mark.parametrize("case", cases("cli"))
def test_cli_refuses_with_one_line_and_writes_nothing(case: Case, agentrag_cli: Any, tmp_path: Path) -> None:
    run, data = agentrag_cli
    make_files(tmp_path, case.files)
    before = footprint(data)
    res = run(case.call, tmp_path, case.env)
    assert "Traceback" not in res.out + res.err, (case.id, res.err[-500:])
    if case.expect == "ok":
        assert res.code == 0, (case.id, res.err[-500:])
        assert case.needle in " ".join(res.err.split()), (case.id, res.err[-500:])
        for secret in case.absent:
            assert not holding(data, secret), (case.id, secret)
        return
    assert res.code == int(case.expect.removeprefix("exit ")), (case.id, res.code, res.out[-300:], res.err[-300:])
    lines = [ln for ln in res.err.splitlines() if ln.lower().startswith("error:")]
    assert len(lines) == 1, (case.id, res.err[-500:])
    check_message(lines[0], case)
    assert footprint(data) == before, case.id
