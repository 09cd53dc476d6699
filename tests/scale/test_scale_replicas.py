"""``llm.base_urls``: requests spread by outstanding requests over two real loopback servers, failover when one is down."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fakeopenai import FakeOpenAI, free_port

from agentrag.errors import BackendError
from agentrag.llm.openai_server import OpenAIChatModel
from agentrag.llm.replicas import ReplicaPool
from agentrag.settings import OpenAIConfig


@pytest.fixture
def servers() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    a, b = FakeOpenAI("m", hold=3).start(), FakeOpenAI("m", hold=3).start()
    yield a, b
    a.stop()
    b.stop()


def _llm(*urls: str, **cfg: object) -> OpenAIChatModel:
    return OpenAIChatModel(config=OpenAIConfig(base_urls=list(urls), model="m", timeout_s=30, **cfg))


def test_concurrent_requests_go_to_the_replica_with_fewer_in_flight(servers: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    a, b = servers  # each holds a request until it has 3 in flight: six calls finish only if split 3 / 3
    llm = _llm(a.url, b.url)
    with ThreadPoolExecutor(max_workers=6) as pool:
        replies = list(pool.map(lambda _: llm.invoke("hi").content, range(6)))
    assert replies == ["no"] * 6
    assert (a.served, b.served) == (3, 3)
    assert (a.max_in_flight, b.max_in_flight) == (3, 3)
    assert all(r.outstanding == 0 for r in llm.pool.replicas)


def test_pool_picks_least_outstanding_then_least_recently_used() -> None:
    pool = ReplicaPool(["http://a", "http://b", "http://c"])
    first = [pool.start().url for _ in range(4)]  # nothing finishes: a, b, c, then the least recently used
    assert first == ["http://a", "http://b", "http://c", "http://a"]
    pool.finish(pool.replicas[1])  # b now has the fewest in flight
    assert pool.start().url == "http://b"


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there: connection refused


def test_a_refused_replica_fails_over_and_is_skipped_while_down() -> None:
    live = FakeOpenAI("m").start()
    try:
        llm = _llm(_dead_url(), live.url, replica_down_s=600)
        assert [llm.invoke("hi").content for _ in range(4)] == ["no"] * 4
        dead = llm.pool.replicas[0]
        assert live.served == 4
        assert dead.failures == 1  # tried once, then skipped while marked down
        assert dead.outstanding == 0 and llm.pool.replicas[1].outstanding == 0
    finally:
        live.stop()


async def test_async_calls_fail_over_too() -> None:
    live = FakeOpenAI("m").start()
    try:
        llm = _llm(_dead_url(), live.url)
        reply = await llm.ainvoke("hi")
        assert reply.content == "no" and live.served == 1
        streamed = [c.content async for c in llm.astream("hi")]
        assert "".join(str(c) for c in streamed) == "no" and live.served == 2
    finally:
        live.stop()


def test_every_replica_down_is_one_clear_backend_error() -> None:
    llm = _llm(_dead_url(), _dead_url())
    with pytest.raises(BackendError, match="cannot reach"):
        llm.invoke("hi")
    assert [r.failures for r in llm.pool.replicas] == [1, 1]


def test_a_replica_busy_with_a_long_request_gets_none_of_the_short_ones() -> None:
    pool = ReplicaPool(["http://a", "http://b"])
    long = pool.start()  # a: one slow request in flight
    short = []
    for _ in range(3):  # round robin would send one of these to a
        r = pool.start()
        short.append(r.url)
        pool.finish(r)
    assert long.url == "http://a" and short == ["http://b"] * 3
