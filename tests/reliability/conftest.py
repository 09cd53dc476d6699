"""Fixtures of the fault suite: a misbehaving LLM server, the HTTP client, the CLI, an AgentRAG on a fake backend.

``http_client`` is the one place that builds the HTTP client of the app, so adding
credentials (API keys) to every fault test's requests is a change here only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakellm import FakeLLM
from faulthelpers import FIRST, MAX_RETRIES, NS, SECOND, TIMEOUT_S, Result, scripted_rag, state
from restartable import chroma_proc, pg_cluster  # noqa: F401  (fixtures: stoppable Chroma and Postgres)

from agentrag import cli_memory
from agentrag.api import AgentRAG
from agentrag.memory.embedder import CachedEmbedder
from agentrag.settings import load_settings


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeLLM]:
    """The misbehaving OpenAI-compatible server, one per module; each test starts it in ``ok`` mode."""
    fake = FakeLLM(slow_s=TIMEOUT_S * 4)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def llm(fake_llm: FakeLLM) -> Iterator[FakeLLM]:
    """``fake_llm`` reset to ``ok`` with no attempts recorded, and listening again after the test."""
    fake_llm.reset("ok")
    yield fake_llm
    if fake_llm._server is None:
        fake_llm.start()
    fake_llm.reset("ok")


def llm_settings(fake: FakeLLM) -> dict[str, Any]:
    """The ``llm`` settings block pointing at ``fake`` with the suite's short timeout and bounded retries."""
    return {
        "kind": "openai",
        "base_url": fake.base_url,
        "model": "fake",
        "timeout_s": TIMEOUT_S,
        "max_retries": MAX_RETRIES,
    }


@pytest.fixture
def rag_on(tmp_path: Path, embedder: CachedEmbedder) -> Iterator[Callable[..., AgentRAG]]:
    """``rag_on(fake, **settings)``: an AgentRAG on the fake LLM, real Chroma and the real embedder."""
    made: list[AgentRAG] = []

    def factory(fake: FakeLLM, **settings: Any) -> AgentRAG:
        settings.setdefault("data_dir", tmp_path / "data")
        rag = AgentRAG(load_settings(llm=llm_settings(fake), **settings), embedder=embedder)
        made.append(rag)
        return rag

    yield factory
    for rag in made:
        rag.close()


@pytest.fixture
def http_client() -> Iterator[Callable[[AgentRAG], Any]]:
    """``http_client(rag)``: a TestClient of the app serving ``rag`` (lifespan run, closed after the test)."""
    from fastapi.testclient import TestClient

    from agentrag.server.app import create_app

    clients: list[Any] = []

    def build(rag: AgentRAG) -> Any:
        client = TestClient(create_app(rag=rag, auth=False), raise_server_exceptions=False)  # keys: tests/test_openai_serve.py
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: CachedEmbedder) -> Callable[..., Any]:
    """``cli(*args, env=...)``: the real ``agentrag`` command in process; returns code, stdout, stderr."""
    from typer.testing import CliRunner

    from agentrag.cli import OPTS, app

    monkeypatch.setattr(cli_memory, "_embedder", embedder)
    for var in ("AGENTRAG_CONFIG", "AGENTRAG_LLM__KIND", "AGENTRAG_LLM__BASE_URL", "AGENTRAG_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        OPTS.data_dir, OPTS.config, OPTS.debug = None, None, False
        full = {"AGENTRAG_DATA_DIR": str(tmp_path / "data"), **(env or {})}
        res = runner.invoke(app, list(args), env=full)
        return Result(res.exit_code, res.stdout, res.stderr)

    return invoke


@pytest.fixture
def reference(tmp_path: Path, embedder: Any) -> dict[str, Any]:
    """The state after FIRST then SECOND, uninterrupted, on embedded Chroma and SQLite."""
    with scripted_rag(embedder, tmp_path / "reference") as rag:
        rag.add(FIRST, namespace=NS)
        rag.add(SECOND, namespace=NS)
        return state(rag.memory, NS)  # type: ignore[arg-type]
