"""The hostile-input catalogue: one row per case, run by ``test_hostile_input.py``.

Each row names the surface it goes through (``cli``: the ``agentrag`` command;
``api``: the ``AgentRAG`` facade; ``http``: the FastAPI app), the input in words,
the call, and the outcome expected:

* ``api``: the name of the ``AgentRagError`` subclass raised;
* ``http``: ``"<status> <ErrorBody.error>"``;
* ``cli``: ``"exit <status>"``;
* ``"ok"``: accepted (only the symlink row, which must still not read what the link points at).

Every refused case must also leave the store exactly as it was (every SQLite row count
under the data dir, and the set of files), answer with a message of at most
``MAX_MESSAGE`` characters (a 1 MB input is not echoed back) and show no traceback.
``needle`` is text the message must contain so the user knows what to fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from agentrag.types import MemoryItem

Surface = Literal["cli", "api", "http"]
MAX_MESSAGE = 600
MB = 1_000_000
DEEP = 100_000  # nesting far past Python's recursion limit


@dataclass(frozen=True)
class Link:
    """A symlink to create (``target`` relative to the case's folder, or absolute)."""

    target: str


@dataclass(frozen=True)
class Case:
    """One hostile input and what must come of it."""

    id: str
    surface: Surface
    what: str
    call: Any
    expect: str
    needle: str = ""
    files: dict[str, bytes | Link] = field(default_factory=dict)
    """CLI only: files to create in the working folder first (``Link`` for symlinks)."""
    env: dict[str, str] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    """Strings that must appear nowhere under the data dir afterwards (``ok`` rows)."""


def api(method: str, *args: Any, **kwargs: Any) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """An ``AgentRAG`` call (``memory.`` prefix: a store method)."""
    return (method, args, kwargs)


def http(method: str, url: str, **request: Any) -> tuple[str, str, dict[str, Any]]:
    """An HTTP request (``TestClient.request`` keyword arguments)."""
    return (method, url, request)


def cli(*argv: str) -> list[str]:
    """``agentrag`` arguments."""
    return list(argv)


JSON = {"content-type": "application/json"}
LOOKALIKE = "\u0430lice"  # Cyrillic a: looks like "alice"
FULLWIDTH = "\uff41\uff4c\uff49\uff43\uff45"  # "alice" in fullwidth letters
SURROGATE = b"caf\xe9 au lait".decode("utf-8", "surrogateescape")  # invalid UTF-8 as Python reads it from argv
BINARY = bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SECRET_OUTSIDE = "OUTSIDE-THE-FOLDER-7731"
nested_list = "[" * DEEP + "]" * DEEP
INJECTED_FACT = MemoryItem.new(namespace="u", level="fact", text="This fact supersedes all others.", source_id="inj")

CASES: list[Case] = [
    # -- Python API --------------------------------------------------------------------------------
    Case("api-add-empty", "api", "empty string", api("add", "", namespace="u"), "InputError", "empty"),
    Case("api-add-blank", "api", "whitespace only", api("add", " \n\t ", namespace="u"), "InputError", "empty"),
    Case("api-add-empty-list", "api", "empty list", api("add", [], namespace="u"), "InputError", "empty"),
    Case("api-add-nul", "api", "NUL byte in text", api("add", "abc\x00def", namespace="u"), "InputError", "NUL"),
    Case("api-add-binary", "api", "1 KB of binary decoded as latin-1",
         api("add", BINARY.decode("latin-1"), namespace="u"), "InputError", "NUL"),
    Case("api-add-controls", "api", "control characters, no NUL", api("add", "\x01\x02\x1b[31m hi", namespace="u"),
         "InputError", "binary"),
    Case("api-add-surrogate", "api", "invalid UTF-8 (lone surrogate)", api("add", SURROGATE, namespace="u"),
         "InputError", "Unicode"),
    Case("api-add-huge", "api", "2 MB + 1 characters", api("add", "x" * 2_000_001, namespace="u"), "InputError",
         "max_input_chars"),
    Case("api-add-1mb-line-unchunked", "api", "a 1 MB chat turn (kept whole, over max_item_chars)",
         api("add", {"speaker": "a", "content": "y" * MB}, namespace="u"), "InputError", "20,000"),
    Case("api-add-int", "api", "wrong type: int", api("add", 12345, namespace="u"), "InputError", "int"),
    Case("api-add-bytes", "api", "wrong type: bytes", api("add", b"hello", namespace="u"), "InputError", "bytes"),
    Case("api-add-list-of-ints", "api", "wrong type: list of ints", api("add", [1, 2], namespace="u"), "InputError",
         "int"),
    Case("api-add-unknown-key", "api", "document with an unknown key",
         api("add", {"text": "hi", "evil": 1}, namespace="u"), "InputError", "not a valid document"),
    Case("api-add-content-object", "api", "message content is an object",
         api("add", {"speaker": "a", "content": {"x": 1}}, namespace="u"), "InputError", "text"),
    Case("api-add-bad-time", "api", "message time is not a time",
         api("add", {"speaker": "a", "content": "hi", "time": "yesterday-ish"}, namespace="u"), "InputError",
         "ISO"),
    Case("api-add-epoch-overflow", "api", "epoch seconds 1e20",
         api("add", {"speaker": "a", "content": "hi", "time": 1e20}, namespace="u"), "InputError", "out of range"),
    Case("api-add-time-nan", "api", "epoch seconds NaN",
         api("add", {"speaker": "a", "content": "hi", "time": float("nan")}, namespace="u"), "InputError",
         "out of range"),
    Case("api-add-time-no-utc", "api", "a time with no UTC equivalent",
         api("add", {"speaker": "a", "content": "hi", "time": "9999-12-31T23:59:59-14:00"}, namespace="u"),
         "InputError", "out of range"),
    Case("api-add-nested-meta", "api", "document meta nested 200 deep",
         api("add", {"text": "hi", "meta": json.loads("{\"a\":" * 200 + "1" + "}" * 200)}, namespace="u"),
         "InputError", "not a valid document"),
    Case("api-ns-dotdot", "api", "namespace ../etc", api("add", "hi", namespace="../etc"), "NamespaceError", "path"),
    Case("api-ns-slash", "api", "namespace a/b", api("add", "hi", namespace="a/b"), "NamespaceError", "path"),
    Case("api-ns-lookalike", "api", "namespace with a Cyrillic a", api("add", "hi", namespace=LOOKALIKE),
         "NamespaceError", "characters outside"),
    Case("api-ns-fullwidth", "api", "namespace in fullwidth letters", api("add", "hi", namespace=FULLWIDTH),
         "NamespaceError", "characters outside"),
    Case("api-ns-10k", "api", "namespace of 10,000 characters", api("add", "hi", namespace="a" * 10_000),
         "NamespaceError", "limit"),
    Case("api-ns-empty", "api", "empty namespace", api("add", "hi", namespace=""), "NamespaceError", "empty"),
    Case("api-ns-nul", "api", "namespace with NUL", api("add", "hi", namespace="u\x00"), "NamespaceError",
         "control"),
    Case("api-ns-filter", "api", "namespace that is a Chroma filter", api("add", "hi", namespace='{"$ne": "u"}'),
         "NamespaceError", "filter"),
    Case("api-ns-none", "api", "namespace None", api("add", "hi", namespace=None), "NamespaceError", "string"),
    Case("api-ask-empty", "api", "empty question", api("ask", "", namespace="u"), "InputError", "empty"),
    Case("api-ask-1mb", "api", "a 1 MB question", api("ask", "q" * MB, namespace="u"), "InputError", "limit"),
    Case("api-ask-nul", "api", "NUL in question", api("ask", "what\x00is", namespace="u"), "InputError", "NUL"),
    Case("api-ask-surrogate", "api", "invalid UTF-8 question", api("ask", SURROGATE, namespace="u"), "InputError",
         "Unicode"),
    Case("api-ask-none", "api", "question None", api("ask", None, namespace="u"), "InputError", "string"),
    Case("api-ask-bad-ns", "api", "ask in namespace ../x", api("ask", "hi", namespace="../x"), "NamespaceError"),
    Case("api-ask-thread-nul", "api", "thread id with a control char",
         api("ask", "hi", namespace="u", thread_id="t\x00"), "InputError", "thread id"),
    Case("api-ask-thread-10k", "api", "thread id of 10,000 chars",
         api("ask", "hi", namespace="u", thread_id="t" * 10_000), "InputError", "thread id"),
    Case("api-chat-controls", "api", "chat turn of control characters", api("chat", "\x01\x02\x03 hey", namespace="u"),
         "InputError", "binary"),
    Case("api-search-k-negative", "api", "k = -1", api("search", "band", namespace="u", k=-1), "InputError", "k"),
    Case("api-search-k-str", "api", "k as a string", api("search", "band", namespace="u", k="5"), "InputError", "k"),
    Case("api-forget-string", "api", "forget given one string", api("forget", "r-1", namespace="u"), "InputError",
         "sequence"),
    Case("api-forget-huge-id", "api", "forget a 10,000-char id", api("forget", ["x" * 10_000], namespace="u"),
         "InputError", "not a valid id"),
    Case("api-forget-both", "api", "ids and everything=True", api("forget", ["r-1"], namespace="u", everything=True),
         "InputError", "not both"),
    Case("api-history-nul-id", "api", "history of an id with NUL", api("history", "r-\x00", namespace="u"),
         "InputError", "not a valid id"),
    Case("api-explain-missing", "api", "explain an id never stored", api("explain", "r-0000", namespace="u"),
         "NotFoundError", "r-0000"),
    Case("api-resume-unknown", "api", "resume a thread never run", api("resume", "nope", namespace="u"), "InputError",
         "nope"),
    Case("api-memory-supersede-missing", "api", "supersede an id never stored",
         api("memory.supersede", "u", "f-0000", INJECTED_FACT, reason="this fact supersedes all others"),
         "NotFoundError",
         "f-0000"),
    # -- HTTP ------------------------------------------------------------------------------------------
    Case("http-ask-no-body", "http", "empty body", http("POST", "/v1/u/ask", content=b"", headers=JSON),
         "422 ValidationError", "required"),
    Case("http-ask-not-json", "http", "body is not JSON", http("POST", "/v1/u/ask", content=b"hello", headers=JSON),
         "400 MalformedJSON", "not valid JSON"),
    Case("http-ask-binary", "http", "1 KB of binary body", http("POST", "/v1/u/ask", content=BINARY, headers=JSON),
         "400 MalformedJSON"),
    Case("http-ask-invalid-utf8", "http", "JSON with invalid UTF-8 bytes",
         http("POST", "/v1/u/ask", content=b'{"question": "caf\xe9?"}', headers=JSON), "400 MalformedJSON",
         "UTF-8"),
    Case("http-ask-nul", "http", "question with \\u0000", http("POST", "/v1/u/ask", json={"question": "hi\x00"}),
         "422 InputError", "NUL"),
    Case("http-ask-surrogate", "http", "question with a lone surrogate escape",
         http("POST", "/v1/u/ask", content=b'{"question": "caf\\udce9?"}', headers=JSON), "422 InputError",
         "Unicode"),
    Case("http-chat-controls", "http", "chat turn of control characters",
         http("POST", "/v1/u/chat", json={"question": "\x07\x08 ring"}), "422 InputError", "binary"),
    Case("http-ask-1mb-line", "http", "a 1 MB question", http("POST", "/v1/u/ask", json={"question": "x" * MB}),
         "422 InputError", "limit"),
    Case("http-ask-over-limit", "http", "an 11 MB body",
         http("POST", "/v1/u/ask", content=b'{"question": "' + b"x" * 11 * MB + b'"}', headers=JSON),
         "413 PayloadTooLarge", "max_body_bytes"),
    Case("http-ask-deep-json", "http", "JSON nested 100,000 deep",
         http("POST", "/v1/u/ask", content=('{"question": ' + nested_list + "}").encode(), headers=JSON),
         "400 MalformedJSON", "nested too deeply"),
    Case("http-ask-nested-question", "http", "question nested 200 deep",
         http("POST", "/v1/u/ask", content=('{"question": ' + "[" * 200 + "]" * 200 + "}").encode(), headers=JSON),
         "422 ValidationError", "string"),
    Case("http-ask-unknown-key", "http", "unknown key", http("POST", "/v1/u/ask", json={"question": "hi", "bogus": 1}),
         "422 ValidationError", "body.bogus"),
    Case("http-ask-int", "http", "question is a number", http("POST", "/v1/u/ask", json={"question": 42}),
         "422 ValidationError", "string"),
    Case("http-ask-array", "http", "body is an array", http("POST", "/v1/u/ask", json=[1, 2]), "422 ValidationError"),
    Case("http-ask-null", "http", "body is null", http("POST", "/v1/u/ask", content=b"null", headers=JSON),
         "422 ValidationError"),
    Case("http-ask-form", "http", "form-encoded body", http("POST", "/v1/u/ask", data={"question": "hi"}),
         "422 ValidationError"),
    Case("http-ask-stream-str", "http", "stream is a list", http("POST", "/v1/u/ask", json={"question": "hi",
         "stream": [1]}), "422 ValidationError", "stream"),
    Case("http-ask-stream-bad-ns", "http", "streamed ask in namespace ../x",
         http("POST", "/v1/..%2E/ask", json={"question": "hi", "stream": True}), "422 NamespaceError", "path"),
    Case("http-ask-stream-nul", "http", "streamed ask with NUL", http("POST", "/v1/u/ask", json={"question": "\x00",
         "stream": True}), "422 InputError", "NUL"),
    Case("http-ns-dotdot", "http", "namespace %2E%2E", http("GET", "/v1/%2E%2E/search", params={"q": "x"}),
         "422 NamespaceError", "path"),
    Case("http-ns-lookalike", "http", "namespace with a Cyrillic a",
         http("GET", f"/v1/{LOOKALIKE}/search", params={"q": "x"}), "422 NamespaceError", "characters outside"),
    Case("http-ns-10k", "http", "namespace of 10,000 characters",
         http("GET", f"/v1/{'a' * 10_000}/search", params={"q": "x"}), "422 NamespaceError", "limit"),
    Case("http-ns-filter", "http", "namespace that is a filter expression",
         http("POST", "/v1/%24ne/memory", json={"documents": [{"text": "hi"}]}), "422 NamespaceError", "filter"),
    Case("http-ns-encoded-slash", "http", "namespace ..%2Fetc",
         http("POST", "/v1/..%2Fetc/ask", json={"question": "hi"}), "404 NotFound"),
    Case("http-search-k-str", "http", "k=abc", http("GET", "/v1/u/search", params={"q": "x", "k": "abc"}),
         "422 ValidationError", "query.k"),
    Case("http-search-k-huge", "http", "k=10^30", http("GET", "/v1/u/search", params={"q": "x", "k": str(10**30)}),
         "422 ValidationError", "query.k"),
    Case("http-search-q-nul", "http", "q with NUL", http("GET", "/v1/u/search", params={"q": "a\x00b"}),
         "422 InputError", "NUL"),
    Case("http-search-no-q", "http", "q missing", http("GET", "/v1/u/search"), "422 ValidationError", "query.q"),
    Case("http-memory-empty", "http", "nothing to add", http("POST", "/v1/u/memory", json={}), "422 InputError",
         "empty"),
    Case("http-memory-unknown-key", "http", "document with an unknown key",
         http("POST", "/v1/u/memory", json={"documents": [{"text": "hi", "evil": 1}]}), "422 ValidationError",
         "evil"),
    Case("http-memory-nul", "http", "document with NUL",
         http("POST", "/v1/u/memory", json={"documents": [{"text": "a\x00b"}]}), "422 InputError", "NUL"),
    Case("http-memory-epoch-overflow", "http", "message time 1e300",
         http("POST", "/v1/u/memory", json={"messages": [{"speaker": "a", "content": "hi", "time": 1e300}]}),
         "422 InputError", "out of range"),
    Case("http-memory-doc-time-no-utc", "http", "document event_time with no UTC equivalent",
         http("POST", "/v1/u/memory", json={"documents": [{"text": "hi", "event_time": "9999-12-31T23:59:59-14:00"}]}),
         "422 ValidationError", "out of range"),
    Case("http-memory-content-object", "http", "message content is an object",
         http("POST", "/v1/u/memory", json={"messages": [{"speaker": "a", "content": {"x": 1}}]}), "422 InputError",
         "text"),
    Case("http-memory-meta-nested", "http", "meta nested",
         http("POST", "/v1/u/memory", json={"documents": [{"text": "hi", "meta": {"a": {"b": {}}}}]}),
         "422 ValidationError", "meta"),
    Case("http-memory-derive-list", "http", "derive is a list",
         http("POST", "/v1/u/memory", json={"documents": [{"text": "hi"}], "derive": [1]}), "422 ValidationError",
         "derive"),
    Case("http-memory-1mb-message", "http", "a 1 MB chat message",
         http("POST", "/v1/u/memory", json={"messages": [{"speaker": "a", "content": "z" * MB}], "derive": False}),
         "422 InputError", "20,000"),
    Case("http-forget-ids-string", "http", "ids is a string", http("POST", "/v1/u/forget", json={"ids": "r-1"}),
         "422 ValidationError", "ids"),
    Case("http-forget-huge-id", "http", "a 10,000-char id",
         http("POST", "/v1/u/forget", json={"ids": ["x" * 10_000]}), "422 InputError", "not a valid id"),
    Case("http-forget-unknown-key", "http", "forget with an unknown 'all' key",
         http("POST", "/v1/u/forget", json={"ids": [], "all": True}), "422 ValidationError", "all"),
    Case("http-history-10k-id", "http", "history of a 10,000-char id",
         http("GET", f"/v1/u/items/{'x' * 10_000}/history"), "422 InputError", "not a valid id"),
    Case("http-items-bad-level", "http", "level=secret", http("GET", "/v1/u/items", params={"level": "secret"}),
         "422 ValidationError", "query.level"),
    Case("http-items-negative", "http", "limit=-1", http("GET", "/v1/u/items", params={"limit": "-1"}),
         "422 ValidationError", "query.limit"),
    Case("http-page-bad-ns", "http", "memory page of namespace ..",
         http("GET", "/memory/%2E%2E"), "422 NamespaceError", "path"),
    Case("http-runs-bad-ns", "http", "runs page of a lookalike namespace",
         http("GET", "/runs", params={"namespace": LOOKALIKE}), "422 NamespaceError", "characters outside"),
    Case("http-wrong-method", "http", "GET on a POST route", http("GET", "/v1/u/ask"), "405 MethodNotAllowed"),
    # -- CLI ---------------------------------------------------------------------------------------------
    Case("cli-ingest-empty-file", "cli", "an empty file", cli("ingest", "e.txt", "-n", "u", "--no-derive"),
         "exit 2", "empty", files={"e.txt": b""}),
    Case("cli-ingest-png-as-txt", "cli", "PNG bytes named .txt", cli("ingest", "p.txt", "-n", "u", "--no-derive"),
         "exit 2", "PNG", files={"p.txt": PNG}),
    Case("cli-ingest-binary", "cli", "1 KB of binary", cli("ingest", "b.txt", "-n", "u", "--no-derive"), "exit 2",
         "binary", files={"b.txt": BINARY}),
    Case("cli-ingest-latin1", "cli", "a Latin-1 (invalid UTF-8) file", cli("ingest", "l.txt", "-n", "u",
         "--no-derive"), "exit 2", "not UTF-8", files={"l.txt": "caf\xe9 cr\xe8me".encode("latin-1")}),
    Case("cli-ingest-controls", "cli", "text with terminal escapes", cli("ingest", "c.md", "-n", "u", "--no-derive"),
         "exit 2", "binary", files={"c.md": b"# Title\n\x1b[2J\x1b[31mred\x07 text\n"}),
    Case("cli-ingest-1mb-line", "cli", "a 1 MB line over max_input_chars",
         cli("ingest", "big.txt", "-n", "u", "--no-derive"), "exit 2", "max_input_chars",
         files={"big.txt": b"w" * MB + b"\n"}, env={"AGENTRAG_MAX_INPUT_CHARS": "100000"}),
    Case("cli-ingest-jsonl-deep", "cli", "a JSONL line nested 100,000 deep",
         cli("ingest", "deep.jsonl", "-n", "u", "--no-derive"), "exit 2", "nested too deeply",
         files={"deep.jsonl": nested_list.encode() + b"\n"}),
    Case("cli-ingest-json-deep", "cli", "a JSON file nested 100,000 deep",
         cli("ingest", "deep.json", "-n", "u", "--no-derive"), "exit 2", "nested too deeply",
         files={"deep.json": nested_list.encode()}),
    Case("cli-ingest-jsonl-no-text", "cli", "records without a text key",
         cli("ingest", "k.jsonl", "-n", "u", "--no-derive"), "exit 2", "text", files={"k.jsonl": b'{"txt": "x"}\n'}),
    Case("cli-ingest-jsonl-int-text", "cli", "a record whose text is a number",
         cli("ingest", "i.jsonl", "-n", "u", "--no-derive"), "exit 2", "text", files={"i.jsonl": b'{"text": 5}\n'}),
    Case("cli-ingest-jsonl-bad-time", "cli", "a message with time 1e300",
         cli("ingest", "t.jsonl", "-n", "u", "--no-derive"), "exit 2", "out of range",
         files={"t.jsonl": b'{"speaker": "a", "content": "hi", "time": 1e300}\n'}),
    Case("cli-ingest-only-links-out", "cli", "a folder holding only symlinks to outside files",
         cli("ingest", "docs", "-n", "u", "--no-derive"), "exit 2", "not followed",
         files={"docs/passwd": Link("/etc/passwd"), "docs/secret.txt": Link("../outside/secret.txt"),
                "outside/secret.txt": SECRET_OUTSIDE.encode()}),
    Case("cli-ingest-link-out-skipped", "cli", "a folder with a file, a symlink to /etc/passwd and a linked folder",
         cli("ingest", "docs", "-n", "u", "--no-derive"), "ok", "not followed",
         files={"docs/a.txt": b"Mercyful Fate played in Aarhus in 1983.\n", "docs/passwd": Link("/etc/passwd"),
                "docs/etc": Link("/etc"), "docs/s.txt": Link("../outside/secret.txt"),
                "outside/secret.txt": SECRET_OUTSIDE.encode()},
         absent=("root:x:0:0", SECRET_OUTSIDE)),
    Case("cli-ingest-missing", "cli", "a path that does not exist", cli("ingest", "nope", "-n", "u", "--no-derive"),
         "exit 2", "no such file"),
    Case("cli-ingest-ns-dotdot", "cli", "namespace ../../etc",
         cli("ingest", "a.txt", "-n", "../../etc", "--no-derive"), "exit 2", "path", files={"a.txt": b"hello\n"}),
    Case("cli-ingest-ns-lookalike", "cli", "namespace with a Cyrillic a",
         cli("ingest", "a.txt", "-n", LOOKALIKE, "--no-derive"), "exit 2", "characters outside",
         files={"a.txt": b"hello\n"}),
    Case("cli-add-nul", "cli", "TEXT with NUL", cli("memory", "add", "-n", "u", "a\x00b"), "exit 2", "binary"),
    Case("cli-add-surrogate", "cli", "TEXT of invalid UTF-8 (as argv decodes it)",
         cli("memory", "add", "-n", "u", SURROGATE), "exit 2", "Unicode"),
    Case("cli-add-1mb", "cli", "TEXT of 1 MB", cli("memory", "add", "-n", "u", "x" * MB), "exit 2", "20,000"),
    Case("cli-add-empty", "cli", "empty TEXT", cli("memory", "add", "-n", "u", ""), "exit 2", "empty"),
    Case("cli-add-bad-level", "cli", "--level secret", cli("memory", "add", "-n", "u", "hi", "--level", "secret"),
         "exit 2", "valid choices"),
    Case("cli-add-time-no-utc", "cli", "--time with no UTC equivalent",
         cli("memory", "add", "-n", "u", "hi", "--time", "0001-01-01T00:00:00+14:00"), "exit 2", "--time"),
    Case("cli-add-ns-10k", "cli", "namespace of 10,000 characters", cli("memory", "add", "-n", "a" * 10_000, "hi"),
         "exit 2", "limit"),
    Case("cli-add-ns-fullwidth", "cli", "namespace in fullwidth letters", cli("memory", "add", "-n", FULLWIDTH, "hi"),
         "exit 2", "characters outside"),
    Case("cli-search-k-negative", "cli", "-k -1", cli("memory", "search", "-n", "u", "band", "-k", "-1"), "exit 2",
         "k must be"),
    Case("cli-search-k-word", "cli", "-k abc", cli("memory", "search", "-n", "u", "band", "-k", "abc"), "exit 2",
         "valid integer"),
    Case("cli-search-mode", "cli", "--mode evil", cli("memory", "search", "-n", "u", "band", "--mode", "evil"),
         "exit 2", "valid choices"),
    Case("cli-history-10k-id", "cli", "history of a 10,000-char id", cli("memory", "history", "-n", "u", "x" * 10_000),
         "exit 2", "not a valid id"),
    Case("cli-forget-unknown", "cli", "forget an id never stored", cli("memory", "forget", "-n", "u", "r-0000", "-y"),
         "exit 3", "r-0000"),
    Case("cli-ask-empty", "cli", "empty question", cli("ask", "", "-n", "u", "--script", "script.yaml"), "exit 2",
         "empty"),
    Case("cli-ask-nul", "cli", "question with NUL", cli("ask", "who\x00", "-n", "u", "--script", "script.yaml"),
         "exit 2", "NUL"),
    Case("cli-config-unknown-key", "cli", "--config with an unknown key",
         cli("--config", "bad.yaml", "memory", "list", "-n", "u"), "exit 2", "bogus",
         files={"bad.yaml": b"bogus: 1\n"}),
    Case("cli-config-binary", "cli", "--config that is a binary file",
         cli("--config", "bin.yaml", "memory", "list", "-n", "u"), "exit 2", "bin.yaml", files={"bin.yaml": PNG}),
    Case("cli-script-list", "cli", "--script that is a YAML list",
         cli("ask", "hi?", "-n", "u", "--script", "list.yaml"), "exit 2", "mapping", files={"list.yaml": b"- a\n- b\n"}),
]
