"""Concurrent ``aask`` calls in one process are in flight at the OpenAI-compatible server together (so vLLM batches them)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeopenai import FakeOpenAI

from agentrag.api import AgentRAG
from agentrag.settings import load_settings

N = 12
"""More than the default thread pool has workers on a small machine (min(32, cores + 4)), so threads cannot fake it."""


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI("m", hold=N, hold_s=10).start()  # each request waits until N are in flight (or 10 s)
    yield fake
    fake.stop()


def test_concurrent_aask_calls_reach_the_server_together(tmp_path: Path, embedder, server: FakeOpenAI) -> None:
    settings = load_settings(data_dir=tmp_path / "d", llm={"kind": "openai", "base_url": server.url, "model": "m"})
    with AgentRAG(settings, embedder=embedder) as rag:
        rag.add(["I keep my violin in the attic."], namespace="u", derive=False)

        async def many() -> list[str]:
            answers = await asyncio.gather(*(rag.aask("Where is my violin?", namespace="u") for _ in range(N)))
            return [a.text for a in answers]

        assert asyncio.run(many()) == ["the attic"] * N
    assert server.max_in_flight == N


def test_the_sync_path_still_answers(tmp_path: Path, embedder) -> None:
    fake = FakeOpenAI("m").start()
    try:
        settings = load_settings(data_dir=tmp_path / "d", llm={"kind": "openai", "base_url": fake.url, "model": "m"})
        with AgentRAG(settings, embedder=embedder) as rag:
            rag.add(["I keep my violin in the attic."], namespace="u", derive=False)
            assert rag.ask("Where is my violin?", namespace="u").text == "the attic"
            assert list(rag.stream("Where is my violin?", namespace="u"))[-1].data.text == "the attic"
    finally:
        fake.stop()
