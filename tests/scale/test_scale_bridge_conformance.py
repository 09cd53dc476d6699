"""The per-process checkpointer (sync saver answering async calls in a thread) passes LangGraph's conformance suite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate

from agentrag.checkpoints import open_checkpointer
from agentrag.settings import PostgresState, Settings, SqliteState


@pytest.fixture(params=["sqlite", "postgres"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Settings]:
    if request.param == "sqlite":
        return lambda: Settings(data_dir=tmp_path / uuid.uuid4().hex, state=SqliteState())
    server: str = request.getfixturevalue("postgres_server")

    def pg() -> Settings:
        import psycopg

        name = f"b_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return Settings(data_dir=tmp_path / "d", state=PostgresState(dsn=server.rsplit("/", 1)[0] + "/" + name))

    return pg


async def test_bridged_checkpointer_passes_langgraph_conformance(fresh: Callable[[], Settings]) -> None:
    @checkpointer_test(name="agentrag-bridged")
    async def factory() -> AsyncGenerator[Any, None]:
        saver, close = open_checkpointer(fresh())
        try:
            yield saver
        finally:
            close()

    report = await validate(factory)
    failures = {cap: res.failures for cap, res in report.results.items() if res.passed is False}
    assert report.passed_all_base(), failures
