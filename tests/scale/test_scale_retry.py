"""RetryPolicy on LLM and memory nodes: bounded attempts, transient failures only."""

from __future__ import annotations

import json

import httpx
import openai
import psycopg
import pytest

from agentrag.errors import BackendError, ConflictError, MemoryStoreError, ParseError
from agentrag.retrying import MAX_ATTEMPTS, transient

REQ = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def _status(code: int) -> openai.APIStatusError:
    return openai.APIStatusError("failed", response=httpx.Response(code, request=REQ), body=None)


def _wrapped(cause: BaseException, kind: type[Exception] = BackendError) -> Exception:
    try:
        raise kind("wrapped") from cause
    except kind as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_wrapped(openai.APIConnectionError(request=REQ)), True),
        (_wrapped(openai.APITimeoutError(request=REQ)), True),
        (_wrapped(_status(503)), True),
        (_wrapped(_status(429)), True),
        (_wrapped(_status(400)), False),
        (_wrapped(_status(404)), False),
        (_wrapped(httpx.ConnectError("refused"), MemoryStoreError), True),
        (_wrapped(ConnectionRefusedError(), MemoryStoreError), True),
        (ParseError("p", "M", "{", "bad"), False),
        (_wrapped(openai.APIConnectionError(request=REQ), ConflictError), False),
        (BackendError("no cause"), False),
        (ValueError("bug"), False),
    ],
)
def test_only_transient_failures_are_retried(exc: BaseException, expected: bool) -> None:
    assert transient(exc) is expected


def test_postgres_connection_loss_is_transient() -> None:
    assert transient(_wrapped(psycopg.OperationalError("server closed the connection"), MemoryStoreError))


ANSWER = json.dumps({"answer": "the attic", "citations": [1]})


def _flaky(failures: int, cause: BaseException):
    calls = {"n": 0}

    def reply(messages: object) -> str:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise BackendError("the server went away") from cause
        return ANSWER

    return reply, calls


def test_a_transient_llm_failure_is_retried_and_the_answer_arrives(make_rag) -> None:
    reply, calls = _flaky(1, openai.APIConnectionError(request=REQ))
    rag = make_rag({"answerer/cited": reply})
    rag.add(["I keep my violin in the attic."], namespace="u", derive=False)
    a = rag.ask("Where do I keep my violin?", namespace="u")
    assert a.text == "the attic"
    assert calls["n"] == 2


def test_retries_are_bounded(make_rag) -> None:
    reply, calls = _flaky(99, openai.APIConnectionError(request=REQ))
    rag = make_rag({"answerer/cited": reply})
    rag.add(["I keep my violin in the attic."], namespace="u", derive=False)
    with pytest.raises(BackendError, match="went away"):
        rag.ask("Where do I keep my violin?", namespace="u")
    assert calls["n"] == MAX_ATTEMPTS


def test_a_permanent_failure_is_not_retried(make_rag) -> None:
    reply, calls = _flaky(99, _status(400))
    rag = make_rag({"answerer/cited": reply})
    rag.add(["I keep my violin in the attic."], namespace="u", derive=False)
    with pytest.raises(BackendError):
        rag.ask("Where do I keep my violin?", namespace="u")
    assert calls["n"] == 1
