"""The run log opens while another process holds its file (two ``agentrag serve`` workers share it).

CI once saw the second worker's first chat turn fail with a 500: the WAL pragma in the run
log's constructor raised "database is locked" at once. The constructor now retries while
locked (up to its timeout) and leaves other errors alone.
"""

from __future__ import annotations

import sqlite3
import threading

import pytest

from agentrag.tracing.runlog import RunLog


def test_a_locked_file_is_waited_for_not_an_error(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    real_setup, failures = RunLog._setup, ["database is locked", "database is locked"]

    def flaky(self):
        if failures:
            raise sqlite3.OperationalError(failures.pop())
        real_setup(self)

    monkeypatch.setattr(RunLog, "_setup", flaky)
    log = RunLog(path)
    assert not failures, "both locked attempts were retried"
    assert log.for_thread("nothing") == []
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    log.close()


def test_other_errors_are_not_retried(tmp_path, monkeypatch):
    def broken(self):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(RunLog, "_setup", broken)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        RunLog(tmp_path / "runs.sqlite", timeout_s=5)


def test_opening_while_another_connection_writes(tmp_path):
    path = tmp_path / "runs.sqlite"
    RunLog(path).close()
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN EXCLUSIVE")
    opened: list[RunLog] = []
    t = threading.Thread(target=lambda: opened.append(RunLog(path)))
    t.start()
    t.join(0.3)
    writer.execute("COMMIT")
    t.join(10)
    assert len(opened) == 1
    opened[0].close()
