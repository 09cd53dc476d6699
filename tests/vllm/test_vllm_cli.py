"""The `agentrag` command, end to end, with a real vLLM server as the generator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.vllm

# The console script of the venv running the tests (.venv/bin/agentrag under `make test`).
AGENTRAG = Path(sys.executable).with_name("agentrag")
DOC = """\
The lighthouse on Brindle Point was built in 1872 by the engineer Ada Moss.
It stands 31 metres tall and its lamp can be seen 40 kilometres out at sea.
The last keeper, Tomas Reyes, left the lighthouse in 1961 when the lamp was automated.
"""


def agentrag(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AGENTRAG_DATA_DIR": str(data_dir),
        "NO_COLOR": "1",
        "TERM": "dumb",
        "COLUMNS": "200",  # rich wraps at 80 columns without a terminal
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.run(
        [str(AGENTRAG), *args], env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 0, (
        f"agentrag {' '.join(args)} exited {proc.returncode}\n"
        f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )
    return proc


def test_cli_ingest_then_ask_through_vllm(vllm_server, tmp_path):
    assert AGENTRAG.exists(), f"{AGENTRAG} not found; install agentrag into the test venv"
    doc = tmp_path / "lighthouse.txt"
    doc.write_text(DOC, encoding="utf-8")
    data = tmp_path / "data"
    server = ["--backend", "openai", "--base-url", vllm_server.base_url]

    ingest = agentrag("ingest", str(doc), "--namespace", "lh", *server, data_dir=data)
    assert re.search(r"1 documents -> 1 raw items", ingest.stdout), ingest.stdout

    ask = agentrag("ask", "Who built the lighthouse on Brindle Point?", "--namespace", "lh", *server, data_dir=data)
    out = ask.stdout
    assert re.search(r"^(answer|abstained):", out, re.MULTILINE), out
    used = re.search(r"tokens: (\d+) prompt \+ (\d+) completion in (\d+) calls", out)
    assert used, out
    prompt_tokens, completion_tokens, calls = map(int, used.groups())
    assert prompt_tokens > 0 and completion_tokens > 0 and calls >= 1
