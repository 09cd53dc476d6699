"""The official ``openai`` client against a real ``agentrag serve`` on loopback, with API keys and tenants.

One server for the module (a subprocess on a free port, stopped by its pid), over
real Chroma and the real embedder, with the scripted generator (``--script``).
Keys are made with the real ``agentrag keys`` command on the same data directory,
so a revocation is seen by the running server through the shared state store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from chromaserver import _free_port, stop
from clitext import flat
from typer.testing import CliRunner

from agentrag.cli import OPTS, app

ANSWER = "Miso"
SCRIPT = {
    "answerer/cited": json.dumps({"answer": ANSWER, "citations": [1]}),
    "notes/update": json.dumps({"note": "", "queries": [], "inferences": []}),
    "notes/review": json.dumps({"better": False}),
    "judge/sufficient": "no",
    "judge/relevant": "yes",
    "judge/contradict": "no",
    "judge/duplicate": json.dumps({"duplicate": False}),
    "judge/consistency": json.dumps({"contradicts": [], "reason": ""}),
    "constructor/facts": json.dumps({"facts": []}),
    "constructor/episode": json.dumps({"title": "chat", "summary": "The user talked about a pet."}),
}


@dataclass
class Server:
    base: str
    data_dir: Path
    keys: dict[str, str]

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.base}/v1", api_key=key, max_retries=0, timeout=120)

    def get(self, path: str, key: str | None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.get(f"{self.base}{path}", params=params, headers=headers, timeout=120)


def keys(data_dir: Path, *args: str) -> tuple[int, str, str]:
    """Run ``agentrag --data-dir D keys ARGS`` in process: (exit status, stdout, stderr)."""
    OPTS.data_dir, OPTS.config, OPTS.debug = None, None, False
    res = CliRunner().invoke(app, ["--data-dir", str(data_dir), "keys", *args], env={"COLUMNS": "60"})
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("serve")
    data_dir, script = root / "data", root / "script.yaml"
    script.write_text(json.dumps(SCRIPT))  # JSON is YAML
    made = {}
    for tenant in ("acme", "globex"):
        code, out, err = keys(data_dir, "create", "--tenant", tenant, "--name", f"{tenant} test")
        assert code == 0, err
        made[tenant] = out.splitlines()[-1]
    port = _free_port()  # (the Chroma fixture's helper: a free port on loopback)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTRAG_") or k == "AGENTRAG_CACHE_DIR"}
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentrag", "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1",
         "--port", str(port), "--script", str(script)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                break
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("server did not start")
        assert proc.poll() is None, (root / "server.log").read_text()[-3000:]
        yield Server(base, data_dir, made)
    finally:
        stop(proc)
        log.close()


def test_plain_chat_with_the_openai_client(server: Server) -> None:
    client = server.client(server.keys["acme"])
    assert "agentrag" in [m.id for m in client.models.list()]
    resp = client.chat.completions.create(
        model="agentrag",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "My cat is called Miso."}],
        user="ines",
        metadata={"session_id": "conv-1"},
    )
    assert resp.object == "chat.completion" and resp.choices[0].message.content == ANSWER
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    ext = (resp.model_extra or {})["agentrag"]
    assert ext["thread_id"] == "conv-1" and ext["rounds"] >= 0 and ext["route"] in ("none", "single", "iterative")
    # the turn was remembered in acme's "ines", as a raw item
    items = server.get("/v1/ines/items", server.keys["acme"]).json()
    assert [i["text"] for i in items if i["level"] == "raw"] == ["My cat is called Miso."]


def test_streamed_chat_ends_with_usage_and_the_extension(server: Server) -> None:
    client = server.client(server.keys["acme"])
    stream = client.chat.completions.create(
        model="agentrag",
        messages=[{"role": "user", "content": "What is my cat called?"}],
        user="ines",
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    assert chunks[0].choices[0].delta.role == "assistant"
    (last,) = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    ext = (last.model_extra or {})["agentrag"]
    assert ext["citations"] and ext["citations"][0]["level"] == "raw"
    assert "Miso" in ext["citations"][0]["text"]  # the first turn, remembered, answers the second
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    # the raw SSE ends with [DONE]
    with httpx.stream(
        "POST", f"{server.base}/v1/chat/completions", timeout=120,
        headers={"Authorization": f"Bearer {server.keys['acme']}"},
        json={"model": "agentrag", "user": "ines", "stream": True, "messages": [{"role": "user", "content": "Hi?"}]},
    ) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)


def test_no_key_and_a_wrong_key_get_401(server: Server) -> None:
    r = server.get("/v1/models", None)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    body = r.json()
    assert set(body) == {"error", "status", "detail", "fields"} and body["status"] == 401
    good = server.keys["acme"]
    forged = good[: good.rindex("_") + 1] + "x" * 43  # a real key id, the wrong secret
    for key in ("not-a-key", forged):
        with pytest.raises(openai.AuthenticationError):
            server.client(key).chat.completions.create(
                model="agentrag", messages=[{"role": "user", "content": "hi"}], user="ines"
            )
        assert server.get("/v1/ines/items", key).status_code == 401
    for path in ("/v1/ines/items", "/v1/ines/search", "/runs", "/memory/ines"):
        assert server.get(path, None, q="cat", namespace="ines").status_code == 401, path


def test_two_tenants_users_of_one_name_never_share_memory(server: Server) -> None:
    acme, globex = server.keys["acme"], server.keys["globex"]
    server.client(acme).chat.completions.create(
        model="agentrag", messages=[{"role": "user", "content": "My cat is called Miso."}], user="ines"
    )
    resp = server.client(globex).chat.completions.create(
        model="agentrag", messages=[{"role": "user", "content": "What is my cat called?"}], user="ines"
    )
    cited = [c["text"] for c in (resp.model_extra or {})["agentrag"]["citations"]]
    assert not any("Miso" in t for t in cited), cited
    theirs = [i["text"] for i in server.get("/v1/ines/items", globex, level="raw").json()]
    assert theirs == ["What is my cat called?"]
    hits = server.get("/v1/ines/search", globex, q="cat Miso").json()
    assert all("Miso" not in h["item"]["text"] for h in hits)
    assert any("Miso" in h["item"]["text"] for h in server.get("/v1/ines/search", acme, q="cat Miso").json())


def test_another_tenants_thread_and_item_ids_are_404(server: Server) -> None:
    acme, globex = server.keys["acme"], server.keys["globex"]
    resp = server.client(acme).chat.completions.create(
        model="agentrag", messages=[{"role": "user", "content": "I live in Lisbon."}], user="ines",
        metadata={"session_id": "conv-404"},
    )
    thread = (resp.model_extra or {})["agentrag"]["thread_id"]
    item = next(i["id"] for i in server.get("/v1/ines/items", acme).json() if "Lisbon" in i["text"])
    assert server.get(f"/runs/{thread}", acme, namespace="ines").status_code == 200
    assert server.get(f"/v1/ines/items/{item}/history", acme).status_code == 200
    for path in (f"/runs/{thread}", f"/v1/ines/items/{item}/history", f"/v1/ines/items/{item}/explain"):
        r = server.get(path, globex, namespace="ines")
        assert r.status_code == 404 and r.json()["status"] == 404, (path, r.text)
        assert "acme" not in r.text
    r = httpx.post(f"{server.base}/v1/ines/forget", json={"ids": [item]}, timeout=60,
                   headers={"Authorization": f"Bearer {globex}"})
    assert r.json() == {"forgotten": 0}
    assert server.get(f"/v1/ines/items/{item}/history", acme).status_code == 200  # still there


def test_keys_cli_lists_and_revokes_and_the_server_refuses_at_once(server: Server) -> None:
    code, out, err = keys(server.data_dir, "create", "--tenant", "initech")
    assert code == 0 and len(out.splitlines()) == 1 and out.startswith("agr_")  # the key alone on stdout
    key = out.strip()
    assert "initech" in err
    assert server.get("/v1/models", key).status_code == 200
    code, out, _ = keys(server.data_dir, "list", "--json")
    listed = {k["id"]: k for k in json.loads(out)}
    key_id = key.split("_")[1]
    assert listed[key_id]["tenant"] == "initech" and listed[key_id]["revoked_at"] is None
    assert key not in out and all(k not in out for k in server.keys.values())  # ids only, never keys
    code, out, _ = keys(server.data_dir, "list")
    assert code == 0 and key_id in flat(out) and "acme" in flat(out)
    code, out, _ = keys(server.data_dir, "revoke", key_id)
    assert code == 0 and f"revoked key {key_id}" in flat(out)
    assert server.get("/v1/models", key).status_code == 401
    code, out, _ = keys(server.data_dir, "list", "--json", "--active")
    assert key_id not in out
    code, _, err = keys(server.data_dir, "revoke", "0123456789ab")
    assert code == 3 and "no API key" in flat(err)
    code, _, err = keys(server.data_dir, "create", "--tenant", "a:b")
    assert code == 2 and "tenant" in flat(err)


def test_no_auth_refuses_a_non_loopback_host(tmp_path: Path) -> None:
    OPTS.data_dir, OPTS.config, OPTS.debug = None, None, False
    res = CliRunner().invoke(
        app, ["--data-dir", str(tmp_path / "d"), "serve", "--no-auth", "--host", "0.0.0.0", "--backend", "scripted"]
    )
    assert res.exit_code == 2 and "refusing to serve without API keys" in flat(res.stderr)
