"""SIGKILL crash suite: a process killed at a random point of a write, then the call re-run, ends
exactly where an uninterrupted run ends.

Operations: ingest of raw items, ingest with derived facts and episodes (the
scripted Constructor, with a contradiction the Refresher resolves), an answer run
with checkpoints whose Judge refreshes memory (after the kill: resume the
checkpointed run, then ask again), a supersede through the Refresher's path, and
a forget of an item with derived facts, an episode and a checkpoint quoting it.
Each trial kills a real process with SIGKILL, either at a seeded write stage
(memory ledger / vectors / BM25, checkpoint writes) or at a seeded delay; the
re-run in a fresh process must leave items, history, provenance and BM25 equal
to the uninterrupted run's, with no duplicate and no lost item (and, for forget,
the forgotten text nowhere on disk).

The work happens in ``crash_server.py`` (a fork server: loads once, forks per
kill). Bounded and seeded: ``AGENTRAG_CRASH_TRIALS`` trials per operation (20 by
default), ``AGENTRAG_CRASH_SEED`` to replay a failing seed. The long version:
``make soak`` (see README "Reliability").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
TRIALS = int(os.environ.get("AGENTRAG_CRASH_TRIALS", "20"))
PG_TRIALS = int(os.environ.get("AGENTRAG_CRASH_PG_TRIALS", str(max(10, TRIALS // 2))))
SEED = int(os.environ.get("AGENTRAG_CRASH_SEED", "20261202"))
REPORT = os.environ.get("AGENTRAG_CRASH_REPORT")


class ForkServer:
    """The ``crash_server.py`` subprocess, spoken to a JSON line at a time."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parents[1]),
                                                                          os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "crash_server.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=env, cwd=HERE.parents[1],
        )
        self._read("@@ready")

    def _read(self, marker: str) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(marker):
                return line[len(marker):].strip()
        raise RuntimeError(f"crash server exited ({self.proc.wait()}) before {marker!r}")

    def run(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        result: dict[str, Any] = json.loads(self._read("@@result"))
        return result

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server() -> Iterator[ForkServer]:
    s = ForkServer()
    yield s
    s.close()


def _check(result: dict[str, Any], trials: int) -> None:
    if REPORT:
        with open(REPORT, "a") as f:
            f.write(json.dumps(result) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "failures"}))
    replay = f"replay with AGENTRAG_CRASH_SEED={SEED} AGENTRAG_CRASH_TRIALS={trials}"
    assert "error" not in result, f"{result.get('error')}\n{result.get('traceback')}\n{replay}"
    assert result["trials"] == trials
    killed = sum(n for k, n in result["outcomes"].items() if "killed" in k)
    assert killed >= trials // 2, f"too few kills landed: {result['outcomes']}"
    assert result["duplicates"] == 0 and result["lost"] == 0, (result["duplicates"], result["lost"], replay)
    assert not result["failures"], f"{replay}\n" + json.dumps(result["failures"], indent=1)


@pytest.mark.parametrize("op", ["ingest_raw", "ingest_derived", "answer", "supersede", "forget"])
def test_sigkill_then_rerun_equals_an_uninterrupted_run(server: ForkServer, op: str, tmp_path: Path) -> None:
    _check(server.run(op=op, trials=TRIALS, seed=SEED, work=str(tmp_path)), TRIALS)


def test_sigkill_with_the_postgres_state_store(server: ForkServer, postgres_server: str, tmp_path: Path) -> None:
    """Ledger and checkpoints in Postgres: a killed connection's transaction must leave nothing half-written."""
    _check(server.run(op="ingest_derived", trials=PG_TRIALS, seed=SEED, work=str(tmp_path), admin_dsn=postgres_server),
           PG_TRIALS)
