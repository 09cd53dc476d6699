"""Property-based tests of the HTTP API from its own OpenAPI schema (schemathesis).

Every operation of ``/openapi.json`` gets generated requests, valid and invalid,
against the real app (real Chroma, real embedder, a scripted generator that answers
every prompt the graphs use). Each response must not be a 5xx, must use a status
code the schema documents, and must match the schema of that status (the one error
shape included). Bounded and derandomized (``EXAMPLES`` per operation) so the default
run stays near a minute; ``AGENTRAG_RELIABILITY_LONG=1`` runs the random long version.
Each operation is a test of its own (schemathesis' pytest plugin does not load on this pytest).

Requests carry ``Authorization: Bearer KEY`` with a real key of tenant "fuzz" (the
``auth_headers`` fixture), so the generated requests reach the routes instead of
stopping at the 401.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agentrag.api import AgentRAG
from agentrag.memory.embedder import CachedEmbedder
from agentrag.server.app import create_app
from agentrag.settings import load_settings
from agentrag.testing import ScriptedChatModel

LONG = os.environ.get("AGENTRAG_RELIABILITY_LONG") == "1"
EXAMPLES = 150 if LONG else 12
"""Per operation and mode (positive, negative): 24 requests per operation in the default run."""
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def j(obj: object) -> str:
    return json.dumps(obj)


SCRIPT = {  # a reply for every prompt the ingest, answer and chat graphs can send
    "constructor/facts": j({"facts": [{"text": "Mercyful Fate is from Copenhagen.", "from": [1]}]}),
    "constructor/episode": j({"summary": "A talk about a band."}),
    "judge/duplicate": j({"duplicate": False}),
    "judge/consistency": j({"contradicts": [], "reason": ""}),
    "judge/verdict": j({"relevant": [1], "sufficient": True, "missing": [], "conflicts": []}),
    "judge/sufficient": "yes",
    "judge/relevant": "yes",
    "judge/contradict": "no",
    "retriever/route": j({"kind": "single", "queries": [], "time": ""}),
    "notes/update": j({"note": "", "queries": [], "inferences": []}),
    "notes/review": j({"better": False}),
    "answerer/cited": j({"answer": "Mercyful Fate", "citations": [1]}),
}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, embedder: CachedEmbedder) -> Iterator[tuple[AgentRAG, str]]:
    """The served AgentRAG and a real API key of tenant "fuzz" in its state store."""
    from agentrag.ledger.keys import open_keys

    settings_ = load_settings(data_dir=tmp_path_factory.mktemp("schemathesis") / "data", router={"kind": "llm"})
    rag = AgentRAG(settings_, llm=ScriptedChatModel(replies=SCRIPT), embedder=embedder)
    keys = open_keys(settings_)
    key = keys.create("fuzz")[1]
    keys.close()
    yield rag, key
    rag.close()


@pytest.fixture(scope="module")
def auth_headers(keyed: tuple[AgentRAG, str]) -> dict[str, str]:
    """Headers every generated request carries: a valid key, so requests get past the 401."""
    return {"Authorization": f"Bearer {keyed[1]}"}


@pytest.fixture(scope="module")
def served_app(keyed: tuple[AgentRAG, str], auth_headers: dict[str, str]) -> Iterator[Any]:
    app = create_app(rag=keyed[0])
    with TestClient(app, headers=auth_headers) as client:  # runs the lifespan once; a memory to read from
        docs = [{"text": "Mercyful Fate is a Danish band from Copenhagen.", "source_id": "d1"}]
        assert client.post("/v1/u/memory", json={"documents": docs, "derive": False}).status_code == 200
        yield app


@pytest.fixture(scope="module")
def api_schema(served_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", served_app)


def operations() -> list[Any]:
    """Every (method, path) of the schema, each with positive and negative (schema-violating) data."""
    paths = create_app(load_settings()).openapi()["paths"]
    out = []
    for path, item in paths.items():
        for method, op in item.items():
            # Only a body or a query parameter can violate the schema: a path segment is any string.
            can_violate = "requestBody" in op or any(p.get("in") == "query" for p in op.get("parameters", []))
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)[: 2 if can_violate else 1]:
                out.append(pytest.param(method.upper(), path, mode, id=f"{method.upper()} {path} {mode.value}"))
    return out


@pytest.mark.parametrize(("method", "path", "mode"), operations())
def test_every_operation_answers_within_its_schema(
    api_schema: Any, auth_headers: dict[str, str], method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=not LONG,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=auth_headers, checks=CHECKS)

    run()
