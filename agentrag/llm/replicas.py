"""Several OpenAI-compatible replicas behind one backend: least outstanding requests, failover.

``llm.base_urls`` lists vLLM (or other OpenAI-compatible) servers serving the same
model. Each request goes to the replica with the fewest requests in flight from
this process (ties to the one used longest ago), which keeps a slow or busy
replica from collecting a queue while an idle one waits. A replica that refuses
the connection is marked down for ``replica_down_s`` and the request goes to the
next one at once; when every replica is down, the one marked down longest ago is
tried again rather than failing without asking. A timeout is not failover: the
server may still be working on the request, and sending it elsewhere would double
the load at the moment it is highest.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import openai

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Replica:
    """One server: its URL, this process's requests in flight to it, and until when it counts as down."""

    url: str
    outstanding: int = 0
    down_until: float = 0.0
    failures: int = 0
    last_used: int = 0
    clients: dict[str, object] = field(default_factory=dict)


class ReplicaPool:
    """Pick replicas by outstanding requests, mark refused ones down, fail over (see the module docstring)."""

    def __init__(self, urls: Sequence[str], *, down_s: float = 10.0) -> None:
        if not urls:
            raise ValueError("a replica pool needs at least one URL")
        self.replicas = [Replica(u) for u in dict.fromkeys(urls)]
        self.down_s = down_s
        self._lock = threading.Lock()
        self._tick = itertools.count(1)

    def __len__(self) -> int:
        return len(self.replicas)

    def start(self, tried: set[str] | None = None) -> Replica:
        """Lease the best replica not in ``tried``: up ones by fewest outstanding, else the longest down."""
        now = time.monotonic()
        with self._lock:
            left = [r for r in self.replicas if r.url not in (tried or ())] or self.replicas
            up = [r for r in left if r.down_until <= now]
            best = (
                min(up, key=lambda r: (r.outstanding, r.last_used))
                if up
                else min(left, key=lambda r: r.down_until)
            )
            best.outstanding += 1
            best.last_used = next(self._tick)
            return best

    def finish(self, replica: Replica) -> None:
        """End a lease taken with ``start``."""
        with self._lock:
            replica.outstanding -= 1

    def mark_down(self, replica: Replica, exc: BaseException) -> None:
        """Skip ``replica`` for ``down_s`` seconds."""
        with self._lock:
            replica.failures += 1
            replica.down_until = time.monotonic() + self.down_s
        log.warning("replica %s refused the connection (%s); down for %.0f s", replica.url, exc, self.down_s)

    def _next_or_raise(self, replica: Replica, exc: openai.APIConnectionError, tried: set[str]) -> None:
        self.finish(replica)
        if isinstance(exc, openai.APITimeoutError):
            raise exc
        self.mark_down(replica, exc)
        tried.add(replica.url)
        if len(tried) >= len(self.replicas):
            raise exc

    def open(self, fn: Callable[[Replica], T]) -> tuple[Replica, T]:
        """Run ``fn`` on a leased replica with failover; the caller ends the lease with ``finish``."""
        tried: set[str] = set()
        while True:
            replica = self.start(tried)
            try:
                return replica, fn(replica)
            except openai.APIConnectionError as exc:
                self._next_or_raise(replica, exc, tried)
            except BaseException:
                self.finish(replica)
                raise

    async def aopen(self, fn: Callable[[Replica], Awaitable[T]]) -> tuple[Replica, T]:
        """Async ``open``."""
        tried: set[str] = set()
        while True:
            replica = self.start(tried)
            try:
                return replica, await fn(replica)
            except openai.APIConnectionError as exc:
                self._next_or_raise(replica, exc, tried)
            except BaseException:
                self.finish(replica)
                raise

    def call(self, fn: Callable[[Replica], T]) -> T:
        """Run ``fn`` on a replica with failover, holding the lease for the call."""
        replica, out = self.open(fn)
        self.finish(replica)
        return out

    async def acall(self, fn: Callable[[Replica], Awaitable[T]]) -> T:
        """Async ``call``."""
        replica, out = await self.aopen(fn)
        self.finish(replica)
        return out
