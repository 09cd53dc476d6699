"""Fast start: what ``agentrag --help`` and model-free commands import (the lazy-import rule in agentrag/cli.py).

Timings live in benchmarks/cli.md (scripts/bench_cli.py); here we check the cause, not the clock:
the heavy packages are simply not imported.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "chromadb", "langgraph", "langchain_core", "sentence_transformers", "transformers", "llama_cpp")


def _imported(args: list[str], tmp_path: Path) -> set[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AGENTRAG_DATA_DIR": str(tmp_path / "data"),
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
    }
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "agentrag", *args], env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return {m.group(1).split(".")[0] for m in re.finditer(r"^import time:.*\|\s+(\S+)$", res.stderr, re.MULTILINE)}


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    mods = _imported(["--help"], tmp_path)
    assert "typer" in mods  # the parse worked
    assert not mods & set(HEAVY), sorted(mods & set(HEAVY))
    mods = _imported(["memory", "--help"], tmp_path)
    assert not mods & set(HEAVY), sorted(mods & set(HEAVY))


def test_memory_list_loads_no_model_and_no_graph(tmp_path: Path) -> None:
    mods = _imported(["memory", "list", "-n", "u"], tmp_path)
    assert "chromadb" in mods
    assert not mods & {"torch", "sentence_transformers", "transformers", "langgraph", "llama_cpp"}, mods
