"""Backends opened by concurrent first requests: one store, and no error from Chroma's client cache.

``agentrag bench serve`` answered its first requests with 500s (KeyError on the data
path, "'RustBindingsAPI' object has no attribute 'bindings'", "Could not connect to
tenant default_tenant"): several request threads opened embedded Chroma's first
client on one path at once, and Chroma's per-path system cache is not thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from agentrag.memory.chroma_client import make_client
from agentrag.settings import load_settings

THREADS = 8


def together(n: int, fn: Callable[[], Any]) -> tuple[list[Any], list[str]]:
    """Run ``fn`` on ``n`` threads released by one barrier; return results and errors."""
    gate = threading.Barrier(n)
    results: list[Any] = []
    errors: list[str] = []

    def run() -> None:
        gate.wait()
        try:
            results.append(fn())
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_first_chroma_clients_on_one_path_opened_together(tmp_path) -> None:
    for trial in range(6):  # unguarded, every trial failed on this machine (6 of 8 threads, typically)
        settings = load_settings(data_dir=tmp_path / f"d{trial}")
        _, errors = together(THREADS, lambda s=settings: make_client(s).heartbeat())
        assert errors == []


def test_concurrent_first_requests_open_one_store_and_one_queue(make_rag) -> None:
    rag = make_rag({})
    stores, errors = together(THREADS, lambda: rag.memory)
    queues, queue_errors = together(THREADS, lambda: rag.queue)
    assert errors == [] and queue_errors == []
    assert len({id(s) for s in stores}) == 1 and len({id(q) for q in queues}) == 1
    rag.add(["Ana keeps bees."], namespace="ana", derive=False)
    assert "bees" in rag.search("bees", namespace="ana")[0].item.text
