"""Drive the real ``agentrag`` command in process (typer's runner), on real Chroma and the real embedder."""

from __future__ import annotations

from pathlib import Path

import pytest
from clihelpers import Result, Run
from typer.testing import CliRunner

from agentrag import cli_memory
from agentrag.cli import OPTS, app


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder) -> Run:  # type: ignore[no-untyped-def]
    """``run(*args, env=..., code=0)``: the command's exit status, stdout and stderr; the status is checked."""
    monkeypatch.setattr(cli_memory, "_embedder", embedder)  # one real model for the whole session
    for var in ("AGENTRAG_CONFIG", "AGENTRAG_LLM__KIND", "AGENTRAG_LLM__BASE_URL", "AGENTRAG_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None, code: int | None = 0, input: str | None = None) -> Result:
        OPTS.data_dir, OPTS.config, OPTS.debug = None, None, False
        full_env = {"AGENTRAG_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "80", **(env or {})}
        res = runner.invoke(app, list(args), env=full_env, input=input)
        out = Result(res.exit_code, res.stdout, res.stderr)
        if code is not None:
            assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr, res.exception)
        return out

    return invoke
