"""An OpenAI-compatible chat server on loopback that misbehaves on command, and counts every attempt.

``FakeLLM.mode`` says how the next requests are answered:

| mode | what the client sees |
| --- | --- |
| ``ok`` | a valid reply (JSON keyed by the prompt's schema name; "no" for yes/no decisions), streamed or not |
| ``down`` | nothing listens on the port (``stop()``): connection refused |
| ``slow`` | the reply comes ``slow_s`` seconds late, past the client's timeout |
| ``500`` | HTTP 500 with an error body |
| ``malformed`` | HTTP 200, ``application/json``, a body that is not JSON |
| ``no_choices`` | HTTP 200, valid JSON without ``choices`` |
| ``bad_content`` | a valid envelope whose message content is not the JSON the prompt's schema wants |
| ``truncated`` | streamed: two pieces, then the connection closes cleanly (no finish_reason, no ``[DONE]``); not streamed: fewer bytes than ``Content-Length`` |

Every POST to ``/chat/completions`` is recorded in ``attempts`` (mode, prompt schema name,
streamed or not), so a test can assert the client's retries are bounded.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OK_REPLIES: dict[str, dict[str, Any]] = {
    "retriever_route": {"kind": "single", "queries": [], "time": ""},
    "notes_update": {"note": "", "queries": [], "inferences": []},
    "notes_review": {"better": False},
    "answerer_cited": {"answer": "Alice lives in Paris.", "citations": [1]},
    "constructor_facts": {"facts": [{"text": "Alice lives in Paris.", "from": [1], "speaker": "Alice"}]},
    "constructor_episode": {"summary": "Alice talked about where she lives."},
    "judge_consistency": {"contradicts": [], "reason": ""},
    "judge_duplicate": {"duplicate": False},
    "judge_verdict": {"relevant": [1], "sufficient": True, "missing": [], "conflicts": []},
}


@dataclass(frozen=True)
class Attempt:
    """One request the server received."""

    mode: str
    prompt: str
    stream: bool


class FakeLLM:
    """The server; ``start()`` / ``stop()`` bind and release the same port (``down`` is ``stop()``)."""

    def __init__(self, slow_s: float = 2.0) -> None:
        self.mode = "ok"
        self.slow_s = slow_s
        self.attempts: list[Attempt] = []
        self._lock = threading.Lock()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        server = _Server(("127.0.0.1", self.port), Handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def record(self, prompt: str, stream: bool) -> str:
        with self._lock:
            self.attempts.append(Attempt(self.mode, prompt, stream))
            return self.mode

    def count(self, mode: str | None = None) -> int:
        with self._lock:
            return sum(1 for a in self.attempts if mode is None or a.mode == mode)

    def reset(self, mode: str = "ok") -> None:
        with self._lock:
            self.attempts.clear()
            self.mode = mode


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout) leaves a broken pipe here; that is the point, not an error


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeLLM
    protocol_version = "HTTP/1.0"  # one request per connection; a body without length ends at close

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "test"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        req = json.loads(self.rfile.read(length) or b"{}")
        fmt = req.get("response_format") or {}
        prompt = str((fmt.get("json_schema") or {}).get("name") or "yes_no")
        stream = bool(req.get("stream"))
        mode = self.server_fake.record(prompt, stream)
        match mode:
            case "slow":
                time.sleep(self.server_fake.slow_s)
                self._reply(prompt, stream)
            case "500":
                self._json(500, {"error": {"message": "the model crashed\ntraceback...", "type": "InternalError"}})
            case "malformed":
                self._raw(200, b'{"id": "x", "choices": [{"message": ', "application/json")
            case "no_choices":
                self._json(200, {"id": "x", "object": "chat.completion", "model": "fake"})
            case "bad_content":
                self._reply(prompt, stream, content="Sure! Here is what you asked for: {not json")
            case "truncated" if stream:
                self._stream(["Alice lives", " in"], finish=False)
            case "truncated":
                body = json.dumps(_completion("Alice lives in Paris.")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            case _:
                self._reply(prompt, stream)

    def _reply(self, prompt: str, stream: bool, content: str | None = None) -> None:
        if content is None:
            content = json.dumps(OK_REPLIES[prompt]) if prompt in OK_REPLIES else "no"
        if stream:
            half = len(content) // 2
            self._stream([content[:half], content[half:]], finish=True)
        else:
            self._json(200, _completion(content))

    def _stream(self, pieces: list[str], finish: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in pieces:
            self._event(_chunk({"content": piece}, None))
        if finish:
            self._event(_chunk({}, "stop"))
            usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
            self._event({"id": "c", "object": "chat.completion.chunk", "model": "fake", "choices": [], "usage": usage})
            self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, data: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(data).encode() + b"\n\n")
        self.wfile.flush()

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._raw(status, json.dumps(body).encode(), "application/json")

    def _raw(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
