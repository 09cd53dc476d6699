"""``state`` in settings: SQLite by default, Postgres by config file, bad values refused with the choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrag.errors import ConfigError
from agentrag.ledger import open_ledger
from agentrag.ledger.postgres import PostgresLedger
from agentrag.ledger.sqlite import SqliteLedger
from agentrag.settings import PostgresState, SqliteState, load_settings


def test_default_state_is_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path)
    assert s.state == SqliteState()
    ledger = open_ledger(s)
    assert isinstance(ledger, SqliteLedger) and ledger.path == tmp_path / "memory" / "embedded" / "memory.sqlite3"
    ledger.close()


def test_postgres_state_from_a_config_file(tmp_path: Path, pg_dsn: str) -> None:
    cfg = tmp_path / "agentrag.yaml"
    cfg.write_text(f"chroma: {{kind: http, host: 127.0.0.1, port: 8001}}\nstate: {{kind: postgres, dsn: '{pg_dsn}'}}\n")
    s = load_settings(cfg, data_dir=tmp_path)
    assert s.state == PostgresState(dsn=pg_dsn)
    ledger = open_ledger(s)
    assert isinstance(ledger, PostgresLedger) and ledger.count("ns") == 0
    ledger.close()


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"kind": "mysql"}, "state"),
        ({"kind": "postgres"}, "state.postgres.dsn"),
        ({"kind": "sqlite", "dns": "x"}, "state.sqlite.dns"),
    ],
)
def test_bad_state_settings_are_refused(tmp_path: Path, state: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(data_dir=tmp_path, state=state)


def test_an_unreachable_postgres_is_a_clear_error(tmp_path: Path) -> None:
    from agentrag.errors import MemoryStoreError

    with pytest.raises(MemoryStoreError, match="cannot reach the Postgres state store"):
        open_ledger(
            load_settings(data_dir=tmp_path, state={"kind": "postgres", "dsn": "postgresql://x@127.0.0.1:1/db"})
        )
