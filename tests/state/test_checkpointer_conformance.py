"""LangGraph's checkpointer conformance suite on both state stores, through agentrag's own factory."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate

from agentrag.checkpoints import async_checkpointer
from agentrag.settings import PostgresState, Settings, SqliteState

_n = itertools.count()


def _fresh_pg(server_dsn: str) -> str:
    import psycopg

    name = f"c_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_dsn.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Settings]:
    """A factory of settings on an empty state store of each kind (one per capability suite)."""
    if request.param == "sqlite":
        return lambda: Settings(data_dir=tmp_path / f"d{next(_n)}", state=SqliteState())
    server = request.getfixturevalue("postgres_server")
    return lambda: Settings(data_dir=tmp_path / "d", state=PostgresState(dsn=_fresh_pg(server)))


async def test_checkpointer_passes_langgraph_conformance(fresh_settings: Callable[[], Settings]) -> None:
    @checkpointer_test(name="agentrag")
    async def factory() -> AsyncGenerator[Any, None]:
        async with async_checkpointer(fresh_settings()) as saver:
            yield saver

    report = await validate(factory)
    failures = {cap: res.failures for cap, res in report.results.items() if res.passed is False}
    assert report.passed_all_base(), failures
