"""Store faults: the Chroma server killed in the middle of a write and restarted; Postgres restarted.

For each: the Python API raises ``StoreUnavailableError`` (no raw ``httpx`` / ``psycopg``
exception), HTTP answers 503 in the one error shape while the store is away and
``/healthz`` still answers, the CLI prints one line and exits 2, nothing is retried in
a loop, and once the store is back the same process serves the next request and the
interrupted call, re-run, ends exactly where an uninterrupted run ends (items,
history, provenance, BM25; compared with a reference run on its own data).
"""

from __future__ import annotations

import pytest
from faulthelpers import FIRST, NS, QUESTION, SECOND, consistent, error_body, one_line_error, scripted_rag, state
from restartable import ChromaProcess, PostgresCluster

from agentrag.errors import StoreUnavailableError


def test_chroma_server_killed_mid_write_then_restarted(chroma_proc, reference, tmp_path, embedder, http_client, cli):
    server: ChromaProcess = chroma_proc
    chroma = {"kind": "http", "host": "127.0.0.1", "port": server.port}
    rag = scripted_rag(embedder, tmp_path / "data", chroma=chroma)
    rag.add(FIRST, namespace=NS)
    store = rag.memory
    before = state(store, NS)
    client = http_client(rag)

    stages: list[str] = []

    def kill_at_vectors(stage: str) -> None:  # the ledger has the entries; Chroma dies before it gets the items
        stages.append(stage)
        if stage == "vectors" and server.proc is not None:
            server.stop()

    store.fault_hook = kill_at_vectors  # type: ignore[attr-defined]
    with pytest.raises(StoreUnavailableError, match="cannot reach the Chroma server"):
        rag.add(SECOND, namespace=NS)
    store.fault_hook = None  # type: ignore[attr-defined]
    assert stages == ["ledger", "vectors"]  # one attempt at the write, no retry loop against a dead server

    # While it is down: typed errors, 503s in the one shape, one CLI line; the service answers /healthz.
    with pytest.raises(StoreUnavailableError):
        rag.search("Paris", namespace=NS)
    for resp in (
        client.get(f"/v1/{NS}/search", params={"q": "Paris"}),
        client.post(f"/v1/{NS}/ask", json={"question": QUESTION}),
        client.post(f"/v1/{NS}/memory", json={"messages": SECOND, "derive": False}),
        client.get(f"/v1/{NS}/items"),
    ):
        assert error_body(resp, 503).error == "StoreUnavailableError"
    assert client.get("/healthz").json() == {"status": "ok"}
    env = {"AGENTRAG_CHROMA__KIND": "http", "AGENTRAG_CHROMA__PORT": str(server.port)}
    res = cli("memory", "search", "-n", NS, "Paris", env=env)
    assert res.code == 2 and "Chroma server" in one_line_error(res)

    # Back up: readers see the state before the failed call (no half-written item in Chroma or BM25) ...
    server.start()
    now = state(store, NS)
    assert now["items"] == before["items"] and now["bm25"] == before["bm25"]
    assert client.get(f"/v1/{NS}/search", params={"q": "Paris"}).status_code == 200
    # ... and the interrupted call, re-run, ends where an uninterrupted run ends.
    rag.add(SECOND, namespace=NS)
    assert state(store, NS) == reference
    consistent(store, NS)
    ok = client.post(f"/v1/{NS}/ask", json={"question": QUESTION})
    assert ok.status_code == 200 and ok.json()["text"].startswith("Alice lives in Paris")
    rag.close()


def test_postgres_restarted(pg_cluster, reference, tmp_path, embedder, http_client, cli):
    cluster: PostgresCluster = pg_cluster
    rag = scripted_rag(embedder, tmp_path / "data", state={"kind": "postgres", "dsn": cluster.dsn})
    rag.add(FIRST, namespace=NS)
    store = rag.memory
    before = state(store, NS)
    client = http_client(rag)

    cluster.stop()
    # While it is down: typed errors, 503s, one CLI line; /healthz answers.
    with pytest.raises(StoreUnavailableError, match="Postgres"):
        rag.add(SECOND, namespace=NS, derive=False)
    with pytest.raises(StoreUnavailableError, match="Postgres"):
        rag.history(store.list(NS, limit=1)[0].id, namespace=NS)
    resp = client.get(f"/v1/{NS}/items/{before['items'][0][0]}/history")
    assert error_body(resp, 503).error == "StoreUnavailableError"
    assert client.get("/healthz").json() == {"status": "ok"}
    env = {"AGENTRAG_STATE__KIND": "postgres", "AGENTRAG_STATE__DSN": cluster.dsn}
    res = cli("memory", "history", "-n", NS, before["items"][0][0], env=env)
    assert res.code == 2 and "Postgres" in one_line_error(res)

    cluster.start()
    # The same process recovers: the ledger reconnects once, the checkpointer's pool replaces its connections.
    assert state(store, NS) == before
    rag.add(SECOND, namespace=NS)
    assert state(store, NS) == reference
    consistent(store, NS)
    assert store.ledger.reconnects >= 1  # type: ignore[attr-defined]
    ok = client.post(f"/v1/{NS}/ask", json={"question": QUESTION})
    assert ok.status_code == 200 and ok.json()["text"].startswith("Alice lives in Paris")
    rag.close()
