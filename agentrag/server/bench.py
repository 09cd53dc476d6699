"""``agentrag bench serve``: K concurrent chat sessions against a real ``agentrag serve`` on loopback.

The bench starts the server the way an operator would (``python -m agentrag --config
FILE serve --workers N --port P``), waits until it answers, warms every worker, then
runs K sessions at once. A session is T turns; a turn is what a chat front-end does
for one user message under the reply-first design: remember the user's message as a
raw item (``POST /v1/{ns}/memory``, no derivation on the request path), then ask the
question streamed (``POST /v1/{ns}/ask`` with ``stream: true``, server-sent events).
Each session has its own namespace, so sessions contend for the server, not for data.

Measured per turn: time to the first answer token (TTFT) and to the final ``answer``
event (TTLT) of the streamed ask, and the remember request's time. Bounded twice:
K x T turns at most, and no turn starts after ``time_limit_s``; a turn that fails, times
out or gets an SSE ``error`` event counts as an error. With the scripted backend the
figures are the service's own overhead (HTTP, graph, memory, checkpoints); with the
local model they are end to end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from agentrag.memory.bench_shared import machine
from agentrag.settings import Settings

log = logging.getLogger(__name__)

SCRIPTED_REPLIES: dict[str, str] = {
    "retriever/route": json.dumps({"kind": "single", "queries": [], "time": ""}),
    "judge/verdict": json.dumps({"relevant": [1], "sufficient": True, "missing": [], "conflicts": []}),
    "notes/update": json.dumps({"note": "", "queries": [], "inferences": []}),
    "notes/review": json.dumps({"better": False}),
    "answerer/cited": json.dumps({"answer": "You keep it where you said you would.", "citations": [1]}),
}
"""The scripted backend's replies: every answer-graph prompt answered at once (service overhead only)."""

_THINGS = ["bicycle", "violin", "lantern", "camera", "ticket", "logbook", "postcard", "guitar"]
_PLACES = ["garage", "attic", "kitchen", "office", "car", "cellar", "shed", "library"]


class Latency(BaseModel):
    """p50 / p95 / max in milliseconds over the turns that finished."""

    p50_ms: float
    p95_ms: float
    max_ms: float


class ServeBenchResult(BaseModel):
    """One bench run: the load, the figures and where it ran."""

    backend: str
    stores: str
    """Where memory and state lived, e.g. ``chroma http + postgres``."""
    workers: int
    sessions: int
    turns_per_session: int
    turns_done: int
    turns_skipped: int
    errors: int
    error_samples: list[str]
    wall_s: float
    turns_per_s: float
    ttft: Latency | None
    ttlt: Latency | None
    remember: Latency | None
    max_in_flight: int
    time_limit_s: float
    machine: dict[str, Any]
    load_before: list[float]
    when: str


@dataclass
class _Tally:
    ttft: list[float] = field(default_factory=list)
    ttlt: list[float] = field(default_factory=list)
    remember: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(settings: Settings, workers: int, port: int, folder: Path) -> subprocess.Popen[bytes]:
    """``agentrag serve`` in a child process on ``settings`` (written to a config file in ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "settings.json"
    config.write_text(settings.model_dump_json(), encoding="utf-8")
    config.chmod(0o600)
    cmd = [sys.executable, "-m", "agentrag", "--config", str(config), "serve",
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
           "--no-auth"]  # loopback only; the key lookup per request is not part of what this measures
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"}
    out = (folder / f"serve-{port}.log").open("wb")
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 180.0) -> None:
    """Poll ``/healthz`` until the server answers; raise if it exits or takes too long."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"agentrag serve exited with status {proc.returncode} before answering")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"agentrag serve did not answer on {url} within {timeout_s:.0f} s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server (and, through uvicorn's supervisor, its workers) by its pid."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


async def _streamed_ask(client: httpx.AsyncClient, ns: str, question: str) -> tuple[float, float]:
    """Seconds to the first token (or the answer, when none streamed) and to the answer event."""
    t0 = time.perf_counter()
    first: float | None = None
    event = ""
    async with client.stream("POST", f"/v1/{ns}/ask", json={"question": question, "stream": True}) as r:
        if r.status_code != 200:
            raise RuntimeError(f"ask answered {r.status_code}: {(await r.aread())[:200]!r}")
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                event = line[7:].strip()
                if event == "token" and first is None:
                    first = time.perf_counter() - t0
                elif event == "error":
                    raise RuntimeError("ask streamed an error event")
            elif event == "answer" and line.startswith("data: "):
                last = time.perf_counter() - t0
                return (first if first is not None else last), last
    raise RuntimeError("ask stream ended without an answer event")


async def _remember(client: httpx.AsyncClient, ns: str, session: str, text: str) -> float:
    t0 = time.perf_counter()
    msg = {"speaker": "user", "content": text, "session_id": session}
    r = await client.post(f"/v1/{ns}/memory", json={"messages": [msg], "derive": False})
    if r.status_code != 200:
        raise RuntimeError(f"memory answered {r.status_code}: {r.text[:200]}")
    return time.perf_counter() - t0


async def _session(client: httpx.AsyncClient, tag: str, n: int, turns: int, deadline: float, tally: _Tally) -> None:
    ns, session = f"bench-{tag}-{n}", f"s{n}"
    for t in range(turns):
        if time.monotonic() > deadline:
            tally.skipped += turns - t
            return
        thing, place = _THINGS[(n + t) % len(_THINGS)], _PLACES[(3 * n + t) % len(_PLACES)]
        tally.in_flight += 1
        tally.max_in_flight = max(tally.max_in_flight, tally.in_flight)
        try:
            tally.remember.append(await _remember(client, ns, session, f"I keep my {thing} in the {place}."))
            first, last = await _streamed_ask(client, ns, f"Where do I keep my {thing}?")
            tally.ttft.append(first)
            tally.ttlt.append(last)
        except (httpx.HTTPError, RuntimeError) as exc:
            tally.errors.append(f"{type(exc).__name__}: {exc}"[:200])
        finally:
            tally.in_flight -= 1


async def drive(url: str, sessions: int, turns: int, time_limit_s: float, request_timeout_s: float) -> _Tally:
    """Run the sessions at once against ``url``; return what was measured."""
    tally = _Tally()
    limits = httpx.Limits(max_connections=sessions + 8, max_keepalive_connections=sessions + 8)
    async with httpx.AsyncClient(base_url=url, timeout=request_timeout_s, limits=limits) as client:
        deadline = time.monotonic() + time_limit_s
        tag = f"{int(time.time())}"
        await asyncio.gather(*(_session(client, tag, n, turns, deadline, tally) for n in range(sessions)))
    return tally


async def warm(url: str, workers: int, request_timeout_s: float) -> None:
    """Load the embedder and the generator in the workers before timing (a round of parallel turns, 2 per worker).

    Uvicorn's workers accept from one socket, so this does not guarantee each worker got
    one; a worker that did not pays its loading inside the measured run (visible as max).
    """
    await drive(url, sessions=2 * workers, turns=1, time_limit_s=request_timeout_s,
                request_timeout_s=request_timeout_s)


def _latency(values: list[float]) -> Latency | None:
    if not values:
        return None
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, max(0, round(0.95 * len(ms) + 0.5) - 1))]
    return Latency(p50_ms=round(statistics.median(ms), 1), p95_ms=round(p95, 1), max_ms=round(ms[-1], 1))


def run_serve_bench(
    settings: Settings,
    *,
    backend: str,
    workers: int,
    sessions: int,
    turns: int,
    time_limit_s: float,
    request_timeout_s: float = 120.0,
    folder: Path | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> ServeBenchResult:
    """Start ``agentrag serve --workers N`` on ``settings``, warm it, run the sessions, stop it."""
    work = folder or Path(tempfile.mkdtemp(prefix="agentrag-bench-serve-"))
    settings = settings.model_copy(update={"data_dir": work / "data"})  # never the user's own memory
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(settings, workers, port, work)
    try:
        wait_ready(url, proc)
        progress(f"server up on {url} with {workers} worker(s); warming up")
        asyncio.run(warm(url, workers, request_timeout_s))
        progress(f"running {sessions} sessions x {turns} turns (limit {time_limit_s:.0f} s)")
        load_before = [round(x, 2) for x in os.getloadavg()]
        t0 = time.perf_counter()
        tally = asyncio.run(drive(url, sessions, turns, time_limit_s, request_timeout_s))
        wall = time.perf_counter() - t0
    finally:
        stop_server(proc)
    done = len(tally.ttlt)
    return ServeBenchResult(
        backend=backend,
        stores=f"chroma {settings.chroma.kind} + {settings.state.kind}",
        workers=workers,
        sessions=sessions,
        turns_per_session=turns,
        turns_done=done,
        turns_skipped=tally.skipped,
        errors=len(tally.errors),
        error_samples=tally.errors[:5],
        wall_s=round(wall, 2),
        turns_per_s=round(done / wall, 2) if wall > 0 else 0.0,
        ttft=_latency(tally.ttft),
        ttlt=_latency(tally.ttlt),
        remember=_latency(tally.remember),
        max_in_flight=tally.max_in_flight,
        time_limit_s=time_limit_s,
        machine=machine(),
        load_before=load_before,
        when=datetime.now(UTC).isoformat(timespec="seconds"),
    )
