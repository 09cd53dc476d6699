"""API keys in the state store, on both backends: hashed at rest, verified, listed, revoked across handles."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

import pytest

from agentrag.errors import InputError, NotFoundError
from agentrag.ledger import sqlite_path
from agentrag.ledger.keys import KeyStore, key_hash, open_keys
from agentrag.settings import Settings, load_settings

Factory = Callable[[], KeyStore]


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return load_settings(data_dir=tmp_path / "data")
    dsn = request.getfixturevalue("pg_dsn")
    return load_settings(data_dir=tmp_path / "data", state={"kind": "postgres", "dsn": dsn})


@pytest.fixture
def handles(settings: Settings) -> Iterator[Factory]:
    """Each call: another handle on the same store (another worker)."""
    opened: list[KeyStore] = []

    def make() -> KeyStore:
        opened.append(open_keys(settings))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


def test_a_key_verifies_to_its_tenant_until_revoked_on_every_handle(handles: Factory) -> None:
    a, b = handles(), handles()
    record, key = a.create("acme", "web front-end")
    assert key.startswith(f"agr_{record.id}_") and len(key) > 50
    found = b.verify(key)
    assert found is not None and (found.tenant, found.name, found.id) == ("acme", "web front-end", record.id)
    assert b.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None  # same id, wrong secret
    assert b.verify("agr_000000000000_" + "x" * 43) is None and b.verify("") is None and b.verify("Bearer x") is None
    _, other = a.create("globex")
    assert a.revoke(record.id).revoked_at is not None
    assert b.verify(key) is None and b.verify(other) is not None  # revoked at once, for every worker
    first = b.revoke(key).revoked_at  # by the whole key too; a second revoke keeps the first time
    assert first == a.list_keys("acme")[0].revoked_at
    assert [k.tenant for k in b.list_keys()] == ["acme", "globex"]
    assert [k.tenant for k in b.list_keys(include_revoked=False)] == ["globex"]
    with pytest.raises(NotFoundError):
        a.revoke("0123456789ab")


def test_tenant_names_cannot_carry_the_namespace_separator(handles: Factory) -> None:
    store = handles()
    for bad in ("a:b", "a.b", "", "-x", "x" * 41, "a b", "../x"):
        with pytest.raises(InputError):
            store.create(bad)


def test_only_the_hash_is_stored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(data_dir=tmp_path / "data")
    store = open_keys(settings)
    _, key = store.create("acme")
    store.close()
    raw = sqlite_path(settings).read_bytes()
    conn = sqlite3.connect(sqlite_path(settings))
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    secret = key.split("_", 2)[2]
    assert secret.encode() not in raw and secret not in dump and key_hash(key) in dump
