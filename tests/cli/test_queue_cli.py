"""``agentrag queue status`` and ``agentrag queue retry`` on the default (SQLite) state store."""

from __future__ import annotations

import json
from pathlib import Path

from clihelpers import Run
from clitext import flat

from agentrag.ledger import open_queue
from agentrag.settings import load_settings


def test_queue_status_shows_counts_and_failures_and_retry_puts_them_back(run: Run, tmp_path: Path) -> None:
    queue = open_queue(load_settings(data_dir=tmp_path / "data"))
    broken = queue.enqueue("ines", ["r-1"], max_attempts=1)
    queue.enqueue("rui", ["r-2"])
    assert queue.claim("w1", 30.0) is not None
    queue.fail(broken.id, "w1", "BackendError: generator down", 0.0)

    data = json.loads(run("queue", "status", "--json").out)
    assert data["counts"] == {"pending": 1, "running": 0, "done": 0, "failed": 1}
    assert data["oldest_pending_age_s"] >= 0 and data["expired_leases"] == 0
    assert [(j["id"], j["last_error"]) for j in data["failed_jobs"]] == [(broken.id, "BackendError: generator down")]
    text = flat(run("queue", "status").out)
    assert "failed 1" in text and f"failed {broken.id} (ines, 1 tries): BackendError: generator down" in text

    missing = run("queue", "retry", "job-nope", code=3)
    assert "no job 'job-nope'" in missing.flat
    assert "1 job(s) back to pending" in run("queue", "retry", broken.id).flat
    assert queue.stats().counts == {"pending": 2, "running": 0, "done": 0, "failed": 0}

    done = queue.claim("w1", 30.0)
    assert done is not None and queue.complete(done.id, "w1")
    assert "0 done job(s) pruned" in run("queue", "prune").flat  # finished just now: younger than 7 days
    assert "1 done job(s) pruned" in run("queue", "prune", "--older-than-days", "0").flat
    assert queue.get(done.id) is None and queue.stats().counts["pending"] == 1
    assert "must be >= 0" in run("queue", "prune", "--older-than-days", "-1", code=2).flat
    queue.close()


def test_queue_status_loads_no_model_and_no_graph(tmp_path: Path) -> None:
    import os
    import re
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "AGENTRAG_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "agentrag", "queue", "status"],
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    mods = {m.group(1).split(".")[0] for m in re.finditer(r"^import time:.*\|\s+(\S+)$", res.stderr, re.MULTILINE)}
    assert "agentrag" in mods
    assert not mods & {"torch", "sentence_transformers", "langgraph", "llama_cpp"}, mods
