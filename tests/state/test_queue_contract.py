"""The derivation queue's contract on both state stores: SQLite (the default) and a real Postgres on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrag.ledger.queue_postgres import PostgresQueue
from agentrag.ledger.queue_sqlite import SqliteQueue
from agentrag.ledger.sqlite import SqliteLedger
from agentrag.testing.queue_contract import QueueContractTests, QueueFactory


class TestSqliteQueue(QueueContractTests):
    @pytest.fixture
    def queue_factory(self, tmp_path: Path) -> QueueFactory:
        return lambda clock: SqliteQueue(tmp_path / "state" / "memory.sqlite3", clock=clock)


class TestPostgresQueue(QueueContractTests):
    @pytest.fixture
    def queue_factory(self, pg_dsn: str) -> QueueFactory:
        return lambda clock: PostgresQueue(pg_dsn, clock=clock)


def test_the_sqlite_queue_shares_the_ledgers_file(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    ledger, queue = SqliteLedger(path), SqliteQueue(path)
    job = queue.enqueue("ns", ["r-1"])
    assert ledger.count("ns") == 0 and queue.get(job.id) is not None
    ledger.close()
    queue.close()
