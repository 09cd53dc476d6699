"""LLM backend faults: down, slow, 500, malformed replies, a cut-off reply; through the API, HTTP and the CLI.

The backend is ``tests/reliability/fakellm.py`` on loopback, told how to misbehave;
it counts every request, so the retries are counted, not assumed. For each fault:

* the Python API raises a typed ``BackendError`` (``BackendUnavailableError`` where
  retrying later may work) after at most ``1 + max_retries`` requests;
* HTTP answers 502 / 504 with the one error body, ``/healthz`` still answers, and the
  next request after the fault clears succeeds;
* the CLI prints one ``error:`` line and exits 2;
* memory is unchanged by the failed ``ask`` and ``add`` (items, history, provenance,
  BM25 read back), and re-running the ``add`` after the fault writes it whole.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any

import pytest
from fakellm import FakeLLM
from faulthelpers import MAX_RETRIES, TIMEOUT_S, consistent, error_body, one_line_error, state

from agentrag.errors import BackendError, BackendUnavailableError

NS = "alice"
QUESTION = "Where does Alice live?"
DOCS = [
    {
        "speaker": "Alice",
        "content": "I moved to Paris last spring.",
        "session_id": "s1",
        "time": "2024-03-01T10:00:00Z",
    },
    {
        "speaker": "Bob",
        "content": "Bob lives in Boston and works nights.",
        "session_id": "s1",
        "time": "2024-03-01T10:01:00Z",
    },
]
TURN = {
    "speaker": "Alice",
    "content": "My flat in Paris is near the river.",
    "session_id": "s2",
    "time": "2024-04-01T10:00:00Z",
}
TRIES = 1 + MAX_RETRIES


@dataclass(frozen=True)
class Fault:
    """A fault mode and what every surface must say about it."""

    mode: str
    error: type[BackendError]
    match: str
    status: int
    attempts: int | None
    """Requests the server sees for one failed call (None: nothing listens, counted from the client's log)."""


FAULTS = [
    Fault("down", BackendUnavailableError, "cannot reach", 503, None),
    Fault("slow", BackendUnavailableError, "timed out", 504, TRIES),
    Fault("500", BackendUnavailableError, "answered 500", 502, TRIES),
    Fault("malformed", BackendUnavailableError, "malformed reply", 502, 1),
    Fault("no_choices", BackendUnavailableError, "no choices", 502, 1),
    Fault("truncated", BackendUnavailableError, "broke mid-reply", 503, TRIES),
]


def _cli_env(fake: FakeLLM) -> dict[str, str]:
    """The suite's LLM settings as environment variables (a ``--base-url`` flag would replace the whole block)."""
    return {
        "AGENTRAG_LLM__KIND": "openai",
        "AGENTRAG_LLM__BASE_URL": fake.base_url,
        "AGENTRAG_LLM__MODEL": "fake",
        "AGENTRAG_LLM__TIMEOUT_S": str(TIMEOUT_S),
        "AGENTRAG_LLM__MAX_RETRIES": str(MAX_RETRIES),
    }


def _begin(fake: FakeLLM, mode: str) -> None:
    fake.reset(mode)
    if mode == "down":
        fake.stop()


def _end(fake: FakeLLM) -> None:
    if fake._server is None:
        fake.start()
    fake.reset("ok")


def _count_connects(monkeypatch: pytest.MonkeyPatch, port: int) -> list[tuple[str, int]]:
    """Record every TCP connect to ``port`` (the sync HTTP client connects through ``socket.create_connection``)."""
    seen: list[tuple[str, int]] = []
    real = socket.create_connection

    def counting(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        if address[1] == port:
            seen.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counting)
    return seen


def _attempts(fake: FakeLLM, fault: Fault, connects: list[tuple[str, int]]) -> int:
    """Requests the server saw; with nothing listening, the connections the client tried."""
    return len(connects) if fault.attempts is None else fake.count()


@pytest.mark.parametrize("fault", FAULTS, ids=[f.mode for f in FAULTS])
def test_llm_fault_is_clear_bounded_and_leaves_memory_whole(fault, llm, rag_on, http_client, cli, monkeypatch):
    rag = rag_on(llm)
    rag.add(DOCS, namespace=NS, derive=False)
    store = rag.memory
    before = state(store, NS)
    client = http_client(rag)

    # Python API: a typed error after a bounded number of requests; memory untouched.
    _begin(llm, fault.mode)
    connects = _count_connects(monkeypatch, llm.port)
    with pytest.raises(fault.error, match=fault.match):
        rag.ask(QUESTION, namespace=NS)
    assert _attempts(llm, fault, connects) == (fault.attempts or TRIES)
    _begin(llm, fault.mode)
    with pytest.raises(fault.error, match=fault.match):
        rag.add([TURN], namespace=NS)  # fails extracting facts, before the write step
    assert llm.count() == (fault.attempts or 0)
    assert state(store, NS) == before

    # HTTP: 502/504 in the one error shape; the service stays up.
    _begin(llm, fault.mode)
    body = error_body(client.post(f"/v1/{NS}/ask", json={"question": QUESTION}), fault.status)
    assert body.error == fault.error.__name__ and fault.match in body.detail
    body = error_body(client.post(f"/v1/{NS}/memory", json={"messages": [TURN]}), fault.status)
    assert client.get("/healthz").json() == {"status": "ok"}

    # CLI: one line, exit status 2.
    res = cli("ask", QUESTION, "-n", NS, "--no-stream", env=_cli_env(llm))
    assert res.code == 2 and fault.match in one_line_error(res)
    assert state(store, NS) == before

    # The fault clears: the next request is answered, and the failed add, re-run, lands whole.
    _end(llm)
    ok = client.post(f"/v1/{NS}/ask", json={"question": QUESTION})
    assert ok.status_code == 200 and ok.json()["text"].startswith("Alice lives in Paris")
    assert client.post(f"/v1/{NS}/memory", json={"messages": [TURN]}).status_code == 200
    after = state(store, NS)
    texts = {i[2] for i in after["items"]}
    assert TURN["content"] in texts and "Alice lives in Paris." in texts
    consistent(store, NS)


@pytest.mark.parametrize("how", ["api", "http", "cli"])
def test_cut_off_stream_is_an_error_not_a_short_answer(how, llm, rag_on, http_client, cli):
    """A stream that stops without a finish_reason is a failed reply, never a shorter answer."""
    rag = rag_on(llm)
    rag.add(DOCS, namespace=NS, derive=False)
    before = state(rag.memory, NS)
    llm.reset("truncated")
    if how == "api":
        with pytest.raises(BackendUnavailableError, match="ended before the reply was complete"):
            list(rag.stream(QUESTION, namespace=NS))
    elif how == "http":
        client = http_client(rag)
        resp = client.post(f"/v1/{NS}/ask", json={"question": QUESTION, "stream": True})
        events = [blk for blk in resp.text.split("\n\n") if blk.strip()]
        assert resp.status_code == 200 and events[-1].startswith("event: error"), resp.text[-500:]
        err = json.loads(events[-1].split("data: ", 1)[1])
        assert err["status"] == 502 and err["error"] == "BackendUnavailableError"
        assert not any(e.startswith("event: answer") for e in events)
        assert client.get("/healthz").status_code == 200
    else:
        res = cli("ask", QUESTION, "-n", NS, env=_cli_env(llm))
        assert res.code == 2 and "ended before the reply was complete" in one_line_error(res)
    assert llm.count() == 1  # a cut-off stream is not re-sent by the client
    assert state(rag.memory, NS) == before
    llm.reset("ok")
    assert [e for e in rag.stream(QUESTION, namespace=NS)][-1].data.text.startswith("Alice lives in Paris")


def test_replies_that_never_parse_degrade_after_one_corrective_retry(llm, rag_on, http_client, cli):
    """Well-formed replies whose content is not the JSON asked for: one corrective retry, then the fallback.

    Fact extraction falls back to the turn's own sentences (counted in the report) and the
    notes loop goes on without a note; the answer has no fallback, so ``ask`` fails with
    ``ParseError`` (HTTP 502, one CLI line). Nothing is retried in a loop, and what is
    written is whole.
    """
    rag = rag_on(llm)
    rag.add(DOCS, namespace=NS, derive=False)
    llm.reset("bad_content")
    client = http_client(rag)
    resp = client.post(f"/v1/{NS}/memory", json={"messages": [TURN]})
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["extraction"]["failed_replies"] == 1 and report["extraction"]["fallback_facts"] >= 1
    assert llm.count("bad_content") == 2  # the reply, then one corrective retry
    consistent(rag.memory, NS)  # type: ignore[arg-type]
    llm.reset("bad_content")
    error = error_body(client.post(f"/v1/{NS}/ask", json={"question": QUESTION}), 502)
    assert error.error == "ParseError" and "answerer/cited" in error.detail
    # the answer cannot degrade: reply + retry, then the error (the notes loop is off by default)
    assert [a.prompt for a in llm.attempts] == ["answerer_cited"] * 2
    llm.reset("bad_content")
    res = cli("ask", QUESTION, "-n", NS, "--no-stream", env=_cli_env(llm))
    assert res.code == 2 and "could not parse the output of prompt 'answerer/cited'" in one_line_error(res)


def test_a_calibrated_judge_does_not_call_a_failing_server_again(llm, rag_on):
    """With calibrated thresholds the Judge asks yes/no questions; a dead server ends the run at the first one.

    A yes/no decision reads a bad reply as "unparsable" and goes on; a server that timed
    out is not a bad reply, and asking it again for every remaining decision only
    multiplies the wait.
    """
    rag = rag_on(
        llm,
        decisions={
            "sufficient_above": 0.9,
            "insufficient_below": 0.1,
            "conflict_above": 0.9,
            "refresh_above": 0.95,
            "drop_below": 0.5,
        },
    )
    rag.add(DOCS, namespace=NS, derive=False)
    llm.reset("ok")
    rag.ask(QUESTION, namespace=NS)
    assert "yes_no" in {a.prompt for a in llm.attempts}  # the calibrated Judge does ask
    llm.reset("slow")
    with pytest.raises(BackendUnavailableError, match="timed out"):
        rag.ask(QUESTION, namespace=NS)
    assert [a.prompt for a in llm.attempts] == ["yes_no"] * TRIES
