"""The HTTP API for chat backends, in process, over a scripted generator and real Chroma."""

import json

from fastapi.testclient import TestClient

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
    with TestClient(create_app(rag=rag)) as client:
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
    with TestClient(create_app(rag=rag)) as client:
        r = client.post("/v1/team-a/ask", json={"question": "   "})
        assert r.status_code == 422 and "empty" in r.json()["detail"]
        r = client.post("/v1/..%2Fetc/ask", json={"question": "hi"})
        assert r.status_code in (404, 422)
        r = client.post("/v1/team-a/ask", json={"question": "hi", "bogus": 1})
        assert r.status_code == 422
