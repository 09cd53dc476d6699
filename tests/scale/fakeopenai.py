"""A small OpenAI-compatible server on loopback for the scale tests (a real HTTP server, threads per request).

It answers ``GET /v1/models`` and ``POST /v1/chat/completions`` (plain and streamed).
Replies are chosen by the structured-output schema name agentrag sends (the prompt id
with ``/`` as ``_``); anything else (a yes/no decision) gets ``"no"``. It records how
many chat requests it served and the most it had in flight at once. With ``hold`` set,
the first requests wait (up to ``hold_s``) until that many are in flight together, then
everything runs freely: a test sees whether a client really sends them at once.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER_GRAPH_REPLIES = {
    "retriever_route": {"kind": "single", "queries": [], "time": ""},
    "judge_verdict": {"relevant": [1], "sufficient": True, "missing": [], "conflicts": []},
    "notes_update": {"note": "", "queries": [], "inferences": []},
    "notes_review": {"better": False},
    "answerer_cited": {"answer": "the attic", "citations": [1]},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeOpenAI:
    """Start with ``start()``, stop with ``stop()``; ``url`` is the ``/v1`` base URL."""

    def __init__(self, name: str = "fake", hold: int = 0, hold_s: float = 10.0) -> None:
        self.name, self.hold, self.hold_s = name, hold, hold_s
        self.served = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.released = hold == 0
        self.cond = threading.Condition()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._server: ThreadingHTTPServer | None = None

    def _reply(self, req: dict[str, Any]) -> str:
        schema = (req.get("response_format") or {}).get("json_schema") or {}
        found = ANSWER_GRAPH_REPLIES.get(str(schema.get("name", "")))
        return json.dumps(found) if found is not None else "no"

    def _enter(self) -> None:
        with self.cond:
            # Counted on arrival: a count taken after the reply was written raced the client,
            # which can read ``served`` before this thread gets back from the socket (CI, 2 Dec).
            self.served += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.in_flight >= self.hold:
                self.released = True
            self.cond.notify_all()
            if not self.released and not self.cond.wait_for(lambda: self.released, timeout=self.hold_s):
                self.released = True  # never came together: stop holding, the test reads max_in_flight

    def _leave(self) -> None:
        with self.cond:
            self.in_flight -= 1

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._send(json.dumps({"object": "list", "data": [{"id": fake.name, "object": "model"}]}).encode())

            def do_POST(self) -> None:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake._enter()
                try:
                    text = fake._reply(req)
                    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
                    if req.get("stream"):
                        parts = [
                            {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
                            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                            {"choices": [], "usage": usage},
                        ]
                        body = "".join(
                            "data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 0,
                                                   "model": fake.name, **p}) + "\n\n"
                            for p in parts
                        ) + "data: [DONE]\n\n"
                        self._send(body.encode(), "text/event-stream")
                        return
                    out = {
                        "id": "c", "object": "chat.completion", "created": 0, "model": fake.name,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                     "finish_reason": "stop"}],
                        "usage": usage,
                    }
                    self._send(json.dumps(out).encode())
                finally:
                    fake._leave()

        return Handler

    def start(self) -> FakeOpenAI:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
