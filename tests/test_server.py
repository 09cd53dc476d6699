"""The HTTP API for chat backends, in process, over a scripted generator and real Chroma."""

import json

from fastapi.testclient import TestClient
from prereq import missing

from agentrag.server.app import create_app

SCRIPT = {
    "retriever/route": json.dumps({"kind": "single", "queries": [], "time": ""}),
    "judge/sufficient": "yes",
    "notes/update": json.dumps({"note": "Mercyful Fate is from Copenhagen.", "queries": [], "inferences": []}),
    "notes/review": json.dumps({"better": True}),
    "answerer/cited": json.dumps({"answer": "Mercyful Fate", "citations": [1]}),
}


def test_add_ask_stream_search_history_forget(make_rag):
    rag = make_rag(SCRIPT)
    with TestClient(create_app(rag=rag, auth=False)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        added = client.post(
            "/v1/team-a/memory",
            json={
                "documents": [{"text": "Mercyful Fate is a Danish band from Copenhagen.", "source_id": "d1"}],
                "derive": False,
            },
        )
        assert added.status_code == 200 and added.json()["written"] == 1
        answer = client.post("/v1/team-a/ask", json={"question": "Which band is from Copenhagen?"}).json()
        assert answer["text"] == "Mercyful Fate" and answer["citations"][0]["item_id"]
        item_id = answer["citations"][0]["item_id"]

        with client.stream("POST", "/v1/team-a/ask", json={"question": "Which band?", "stream": True}) as resp:
            body = "".join(resp.iter_text())
        assert "event: token" in body and "event: answer" in body

        hits = client.get("/v1/team-a/search", params={"q": "Copenhagen band"}).json()
        assert hits[0]["item"]["id"] == item_id
        assert client.get("/v1/team-b/search", params={"q": "Copenhagen band"}).json() == []

        events = [h["event"] for h in client.get(f"/v1/team-a/items/{item_id}/history").json()]
        assert events == ["add"]
        assert client.post("/v1/team-a/forget", json={"ids": [item_id]}).json() == {"forgotten": 1}


def test_bad_input_is_a_422_with_the_message(make_rag):
    rag = make_rag(SCRIPT)
    with TestClient(create_app(rag=rag, auth=False)) as client:
        r = client.post("/v1/team-a/ask", json={"question": "   "})
        assert r.status_code == 422 and "empty" in r.json()["detail"]
        r = client.post("/v1/..%2Fetc/ask", json={"question": "hi"})
        assert r.status_code in (404, 422)
        r = client.post("/v1/team-a/ask", json={"question": "hi", "bogus": 1})
        assert r.status_code == 422


# -- one error shape, 400/404/413/422 where they belong, more routes, OpenAPI, docs page ------------------
ERROR_KEYS = {"error", "status", "detail", "fields"}


def _is_error(r, status: int, error: str | None = None) -> dict:
    body = r.json()
    assert r.status_code == status, (r.status_code, body)
    assert set(body) == ERROR_KEYS and body["status"] == status, body
    if error is not None:
        assert body["error"] == error, body
    return body


def test_every_error_has_the_same_shape(make_rag):
    rag = make_rag(SCRIPT, server={"max_body_bytes": 2000})
    with TestClient(create_app(rag=rag, auth=False)) as client:
        _is_error(client.post("/v1/team-a/ask", json={"question": "   "}), 422, "InputError")
        body = _is_error(client.post("/v1/team-a/ask", json={"question": "hi", "bogus": 1}), 422, "ValidationError")
        assert body["fields"][0]["location"] == "body.bogus"
        body = _is_error(
            client.post("/v1/team-a/ask", content=b'{"question": "hi",', headers={"content-type": "application/json"}),
            400,
            "MalformedJSON",
        )
        assert "not valid JSON" in body["detail"]
        _is_error(client.get("/v1/team-a/search", params={"q": "x", "k": 0}), 422, "ValidationError")
        _is_error(client.get("/v1/team-a/search", params={"q": "x", "k": 101}), 422, "ValidationError")
        _is_error(client.get("/v1/team-a/items/r-0000/history"), 404, "NotFoundError")
        _is_error(client.get("/v1/team-a/items/r-0000/explain"), 404, "NotFoundError")
        _is_error(client.get("/nowhere"), 404, "NotFound")
        huge = json.dumps({"question": "x" * 5000})
        body = _is_error(client.post("/v1/team-a/ask", content=huge, headers={"content-type": "application/json"}), 413)
        assert "server.max_body_bytes" in body["detail"]

        def chunks():  # no Content-Length: counted as it arrives
            yield b'{"question": "'
            for _ in range(10):
                yield b"x" * 500
            yield b'"}'

        _is_error(client.post("/v1/team-a/ask", content=chunks(), headers={"content-type": "application/json"}), 413)


def test_list_explain_and_stats_routes(make_rag):
    rag = make_rag(SCRIPT)
    with TestClient(create_app(rag=rag, auth=False)) as client:
        docs = [{"text": "Mercyful Fate is a Danish band from Copenhagen.", "source_id": "d1"}]
        assert client.post("/v1/team-a/memory", json={"documents": docs, "derive": False}).status_code == 200
        items = client.get("/v1/team-a/items").json()
        assert [i["source_id"] for i in items] == ["d1"]
        assert client.get("/v1/team-b/items").json() == []
        why = client.get(f"/v1/team-a/items/{items[0]['id']}/explain").json()
        assert why["item"]["id"] == items[0]["id"] and why["history"][0]["event"] == "add"
        assert client.get("/v1/team-a/stats").json()["levels"]["raw"] == {"valid": 1, "total": 1}
        msgs = [{"speaker": "Alice", "content": "I moved to Paris!", "session_id": "s2", "time": "2023-06-05T10:00:00Z"}]
        client.post("/v1/team-c/memory", json={"messages": msgs, "derive": False})
        (item,) = client.get("/v1/team-c/items").json()
        assert (item["speaker"], item["session_id"], item["event_time"][:10]) == ("Alice", "s2", "2023-06-05")


def test_openapi_documents_routes_and_errors(make_rag):
    rag = make_rag(SCRIPT)
    with TestClient(create_app(rag=rag, auth=False)) as client:
        spec = client.get("/openapi.json").json()
    assert "ErrorBody" in spec["components"]["schemas"]
    assert "every error response" in spec["info"]["description"].lower()
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            assert op.get("description"), f"{method} {path} has no description"
            assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    history = spec["paths"]["/v1/{namespace}/items/{item_id}/history"]["get"]["responses"]
    assert "404" in history and "413" in history
    k = next(p for p in spec["paths"]["/v1/{namespace}/search"]["get"]["parameters"] if p["name"] == "k")
    assert k["schema"]["minimum"] == 1 and k["description"]
    # bearer keys: declared once, required by every data route, not by the liveness probe
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path in ("/v1/chat/completions", "/v1/models", "/v1/{namespace}/search", "/runs", "/memory/{namespace}"):
        (op,) = spec["paths"][path].values()
        assert op["security"] == [{"HTTPBearer": []}] and "401" in op["responses"], path
    assert "security" not in spec["paths"]["/healthz"]["get"]
    chat = spec["paths"]["/v1/chat/completions"]["post"]
    assert {"502", "503", "504"} <= set(chat["responses"])
    assert "ChatCompletion" in spec["components"]["schemas"] and "AgentRagInfo" in spec["components"]["schemas"]


def test_backend_failures_are_503_504_502_with_one_body(embedder, tmp_path):
    """A generator server that is down is a 503 with Retry-After (also mid-stream, as an OpenAI error event)."""
    import socket

    from agentrag.api import AgentRAG
    from agentrag.errors import BackendError, MemoryStoreError
    from agentrag.server.errors import status_for
    from agentrag.settings import load_settings

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = {"kind": "openai", "base_url": f"http://127.0.0.1:{port}/v1", "max_retries": 0, "timeout_s": 5}
    rag = AgentRAG(load_settings(data_dir=tmp_path / "data", llm=llm), embedder=embedder)
    turn = {"model": "agentrag", "user": "ines", "messages": [{"role": "user", "content": "Where do I live?"}]}
    try:
        with TestClient(create_app(rag=rag, auth=False)) as client:
            r = client.post("/v1/chat/completions", json=turn)
            body = _is_error(r, 503, "BackendUnavailableError")
            assert "cannot reach" in body["detail"] and r.headers["retry-after"] == "1"
            with client.stream("POST", "/v1/chat/completions", json={**turn, "stream": True}) as resp:
                lines = [line for line in resp.iter_lines() if line]
            error = json.loads(lines[-2].removeprefix("data: "))["error"]
            assert error["code"] == 503 and lines[-1] == "data: [DONE]"
    finally:
        rag.close()

    def chained(outer: Exception, inner: Exception) -> Exception:
        try:
            try:
                raise inner
            except Exception as exc:
                raise outer from exc
        except Exception as exc:
            return exc

    assert status_for(chained(BackendError("generator call failed"), TimeoutError())) == 504
    assert status_for(BackendError("the server at http://x/v1 answered 500: boom")) == 502
    assert status_for(BackendError("the server at http://x/v1 answered 503: overloaded")) == 503
    assert status_for(MemoryStoreError("cannot reach the Chroma server at http://127.0.0.1:9")) == 503


def test_docs_page_is_served_from_the_package_and_renders_offline(tmp_path):
    """A real uvicorn on loopback and headless Chromium: the page renders the routes with no CDN."""
    import os
    import shutil
    import socket
    import subprocess
    import sys
    import time

    import httpx

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        missing("chromium is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "AGENTRAG_DATA_DIR": str(tmp_path / "data"), "AGENTRAG_LLM__KIND": "scripted"}
    env.pop("AGENTRAG_CONFIG", None)
    code = f"import uvicorn; from agentrag.server.app import create_app; uvicorn.run(create_app(), host='127.0.0.1', port={port})"
    server = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            try:
                html = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1).text
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("server did not start: " + server.stderr.read().decode()[-2000:])
        assert "http://" not in html and "https://" not in html  # nothing fetched from elsewhere
        dom = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", "--dump-dom",
             f"http://127.0.0.1:{port}/docs"],
            capture_output=True, text=True, timeout=120,
        ).stdout
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "<code>/v1/{namespace}/ask</code>" in dom and '<details id="ErrorBody">' in dom  # rendered by its script


def test_no_auth_is_for_loopback_only_and_says_so(tmp_path, caplog):
    import logging

    import pytest

    from agentrag.errors import ConfigError
    from agentrag.server.auth import is_loopback, serve_auth
    from agentrag.settings import load_settings

    keyed = load_settings(data_dir=tmp_path)
    assert serve_auth(keyed, "0.0.0.0", no_auth=False) is True
    with caplog.at_level(logging.WARNING, logger="agentrag.server.auth"):
        assert serve_auth(keyed, "127.0.0.1", no_auth=True) is False
    assert "WITHOUT authentication" in caplog.text
    open_settings = load_settings(data_dir=tmp_path, server={"auth": False})
    for host in ("0.0.0.0", "10.1.2.3", "example.org", "::"):
        with pytest.raises(ConfigError, match="refusing to serve without API keys"):
            serve_auth(open_settings, host, no_auth=False)
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))


def test_keys_gate_every_route_in_process(make_rag):
    """With keys on (the default), the tenant prefixes the namespace; no key is a 401 with a challenge."""
    from agentrag.ledger.keys import open_keys

    rag = make_rag(SCRIPT)
    store = open_keys(rag.settings)
    _, key = store.create("acme")
    store.close()
    with TestClient(create_app(rag=rag)) as client:
        assert client.get("/healthz").status_code == 200 and client.get("/docs").status_code == 200
        body = _is_error(client.get("/v1/ines/items"), 401, "Unauthorized")
        assert "Bearer" in body["detail"]
        r = client.get("/v1/ines/items", headers={"Authorization": "Basic eDp5"})
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        auth = {"Authorization": f"Bearer {key}"}
        docs = [{"text": "Mercyful Fate is a Danish band from Copenhagen.", "source_id": "d1"}]
        assert client.post("/v1/ines/memory", json={"documents": docs, "derive": False}, headers=auth).status_code == 200
        assert [i["namespace"] for i in client.get("/v1/ines/items", headers=auth).json()] == ["acme:ines"]
        assert rag.memory.list("ines") == []  # the bare user name is another namespace
        _is_error(client.get("/v1/bad*ns/items", headers=auth), 422, "NamespaceError")
