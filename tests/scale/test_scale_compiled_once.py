"""Graphs are compiled once per process and the checkpointer opened once: no request compiles or connects."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient

import agentrag.runner as runner_module
from agentrag.server.app import create_app


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, Counter[str]]:
    seen: dict[str, Counter[str]] = {"built": Counter(), "opened": Counter()}
    build, open_saver = runner_module.build_graph, runner_module.open_checkpointer

    def counting_build(name: str, checkpointer: Any) -> Any:
        seen["built"][name] += 1
        return build(name, checkpointer)

    def counting_open(settings: Any) -> Any:
        seen["opened"]["checkpointer"] += 1
        return open_saver(settings)

    monkeypatch.setattr(runner_module, "build_graph", counting_build)
    monkeypatch.setattr(runner_module, "open_checkpointer", counting_open)
    return seen


def test_sync_and_async_runs_share_one_compiled_graph_and_one_connection(make_rag, counted) -> None:
    rag = make_rag({"answerer/cited": '{"answer": "the attic", "citations": [1]}'})
    rag.add(["I keep my violin in the attic."], namespace="u", derive=False)

    async def many() -> list[str]:
        answers = await asyncio.gather(*(rag.aask("Where is my violin?", namespace="u") for _ in range(3)))
        streamed = [e async for e in rag.astream("Where is my violin?", namespace="u")]
        return [a.text for a in answers] + [streamed[-1].data.text]

    texts = [rag.ask("Where is my violin?", namespace="u").text, *asyncio.run(many()), *asyncio.run(many())]
    texts.append(list(rag.stream("Where is my violin?", namespace="u"))[-1].data.text)
    assert texts == ["the attic"] * 10
    assert counted["built"] == Counter({"answer": 1, "ingest": 1})
    assert counted["opened"] == Counter({"checkpointer": 1})


def test_server_requests_compile_nothing_and_open_nothing(make_rag, counted) -> None:
    rag = make_rag({"answerer/cited": '{"answer": "the attic", "citations": [1]}'})
    rag.add(["I keep my violin in the attic."], namespace="u", derive=False)
    with TestClient(create_app(rag=rag, auth=False)) as client:
        for _ in range(3):
            r = client.post("/v1/u/ask", json={"question": "Where is my violin?"})
            assert r.status_code == 200 and r.json()["text"] == "the attic"
        r = client.post("/v1/u/ask", json={"question": "Where is my violin?", "stream": True})
        assert r.status_code == 200 and "event: answer" in r.text
    assert counted["built"]["answer"] == 1
    assert counted["opened"] == Counter({"checkpointer": 1})
