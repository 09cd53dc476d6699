"""``agentrag bench serve`` runs end to end with a few sessions and writes its JSON and table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_bench_serve_with_three_sessions_writes_its_record(tmp_path: Path) -> None:
    record = tmp_path / "serve"
    cmd = [sys.executable, "-m", "agentrag", "bench", "serve", "--sessions", "3", "--turns", "1",
           "--backend", "scripted", "--time-limit", "120", "--record", str(record)]
    env = {**os.environ, "PYTHONPATH": str(Path.cwd()), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    runs = json.loads(record.with_suffix(".json").read_text())["runs"]
    assert len(runs) == 1
    run = runs[0]
    assert (run["backend"], run["workers"], run["sessions"]) == ("scripted", 1, 3)
    assert run["errors"] == 0, run["error_samples"]
    assert run["turns_done"] == 3
    assert run["max_in_flight"] == 3
    assert 0 < run["ttft"]["p50_ms"] <= run["ttlt"]["p95_ms"]
    assert run["machine"]["cores"] == os.cpu_count()
    table = record.with_suffix(".md").read_text()
    assert "| scripted | chroma embedded + sqlite | 1 | 3 x 1 | 3 | 0 |" in table
