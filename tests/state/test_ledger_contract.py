"""The ledger contract on both backends: SQLite (the embedded default) and a real Postgres on loopback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agentrag.ledger import Change
from agentrag.ledger.postgres import PostgresLedger
from agentrag.ledger.sqlite import SqliteLedger
from agentrag.testing.ledger_contract import LedgerContractTests, LedgerFactory


class TestSqliteLedger(LedgerContractTests):
    @pytest.fixture
    def ledger_factory(self, tmp_path: Path) -> LedgerFactory:
        return lambda: SqliteLedger(tmp_path / "state" / "ledger.sqlite3")


class TestPostgresLedger(LedgerContractTests):
    @pytest.fixture
    def ledger_factory(self, pg_dsn: str) -> LedgerFactory:
        return lambda: PostgresLedger(pg_dsn)


def test_sqlite_history_is_append_only(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "l.sqlite3")
    ledger.append("ns", [Change("f-1", "fact", "add", reason="added", after="x")], actor="a")
    conn = sqlite3.connect(tmp_path / "l.sqlite3")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE history SET after = 'tampered'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM history")


def test_postgres_history_is_append_only(pg_dsn: str) -> None:
    import psycopg

    ledger = PostgresLedger(pg_dsn)
    ledger.append("ns", [Change("f-1", "fact", "add", reason="added", after="x")], actor="a")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE agentrag_history SET after = 'tampered'")
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("DELETE FROM agentrag_history")
    assert ledger.count("ns") == 1


def test_sqlite_ledger_upgrades_a_file_without_run_ids(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE history (seq INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL, item_id TEXT NOT NULL,"
        " level TEXT NOT NULL, event TEXT NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL,"
        " before TEXT, after TEXT, related_id TEXT);"
        "INSERT INTO history (namespace, item_id, level, event, at, actor, reason, after)"
        " VALUES ('ns', 'f-1', 'fact', 'add', '2024-01-01T00:00:00+00:00', 'a', 'added', 'x');"
    )
    conn.commit()
    conn.close()
    (entry,) = SqliteLedger(path).entries("ns", "f-1")
    assert entry.after == "x" and entry.run_id is None
