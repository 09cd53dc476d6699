"""The `agentrag` command, end to end, with a real vLLM server as the generator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from clitext import flat

pytestmark = pytest.mark.vllm

# The console script of the venv running the tests (.venv/bin/agentrag under `make test`).
AGENTRAG = Path(sys.executable).with_name("agentrag")
DOC = """\
The lighthouse on Brindle Point was built in 1872 by the engineer Ada Moss.
It stands 31 metres tall and its lamp can be seen 40 kilometres out at sea.
The last keeper, Tomas Reyes, left the lighthouse in 1961 when the lamp was automated.
"""
QUESTION, ENTITY = "Who was the last keeper of the lighthouse?", "Tomas Reyes"


def agentrag(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AGENTRAG_DATA_DIR": str(data_dir),
        "NO_COLOR": "1",
        "TERM": "dumb",
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
    assert "1 documents from 1 files -> 1 raw items" in flat(ingest.stdout), ingest.stdout

    # A question SmolLM2-135M answers from this passage (tried with the real server): the answer must
    # name the right entity and cite the passage; an abstention fails.
    ask = agentrag("ask", QUESTION, "--namespace", "lh", "--no-stream", *server, data_dir=data)
    out = flat(ask.stdout)
    # "answer: <text>", then one line per citation ("[evidence id] <item id> <passage>"), then the token count
    said = re.search(r"answer: (.*?) (?=\[[^\]]+\] [rfe]-[0-9a-f]{24}|tokens:)", out)
    assert said, out
    assert ENTITY.lower() in said.group(1).lower(), out
    assert re.search(r"\[[^\]]+\] [rfe]-[0-9a-f]{24}", out), out  # cites the passage or what was derived from it
    used = re.search(r"tokens: (\d+) prompt \+ (\d+) completion in (\d+) calls", out)
    assert used, out
    prompt_tokens, completion_tokens, calls = map(int, used.groups())
    assert prompt_tokens > 0 and completion_tokens > 0 and calls >= 1  # the answer; notes loop off by default
