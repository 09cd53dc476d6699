"""Settings seen from the command line: flags name a backend, --script and --base-url imply theirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clihelpers import Run

from agentrag.errors import ConfigError
from agentrag.settings import OpenAIConfig, ScriptedConfig

SCRIPT = {
    "retriever/route": json.dumps({"kind": "single", "queries": [], "time": ""}),
    "judge/verdict": json.dumps({"relevant": [1], "sufficient": True, "missing": [], "conflicts": []}),
    "answerer/cited": json.dumps({"answer": "Mercyful Fate", "citations": [1]}),
    # the shipped (never confident) decisions escalate every question: into the notes loop when it is on
    "notes/update": json.dumps({"note": "", "queries": [], "inferences": []}),
    "notes/review": json.dumps({"better": False}),
}
README_ENV = {"AGENTRAG_LLM__KIND": "openai", "AGENTRAG_LLM__BASE_URL": "http://127.0.0.1:9/v1"}


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "script.yaml"
    path.write_text(json.dumps(SCRIPT))  # JSON is YAML
    return path


def test_scripted_ask_under_the_readmes_openai_environment(run: Run, script: Path) -> None:
    run("memory", "add", "-n", "u", "Mercyful Fate is a Danish band from Copenhagen.")
    for flags in (["--backend", "scripted", "--script", str(script)], ["--script", str(script)]):
        res = run("ask", "Which band is from Copenhagen?", "-n", "u", "--json", *flags, env=README_ENV)
        assert json.loads(res.out)["text"] == "Mercyful Fate"


def test_ask_on_an_unknown_namespace_warns(run: Run, script: Path) -> None:
    run("memory", "add", "-n", "alice", "Alice lives in Paris.")
    res = run("ask", "Where does Alice live?", "-n", "alcie", "--script", str(script), "--json")
    assert "namespace 'alcie' does not exist; did you mean 'alice'?" in res.flat


def test_a_broken_llm_setting_only_stops_commands_that_use_a_generator(run: Run, script: Path) -> None:
    env = {"AGENTRAG_LLM__KIND": "nonsense"}
    run("memory", "add", "-n", "u", "hello", env=env)
    assert run("memory", "stats", "-n", "u", "--json", env=env).code == 0
    res = run("ask", "q?", "-n", "u", env=env, code=2)
    assert "environment variable AGENTRAG_LLM__KIND: unknown llm kind 'nonsense'" in res.flat
    assert "llm kinds" not in res.flat
    assert run("ask", "q?", "-n", "u", "--script", str(script), "--json", env=env).code == 0  # the flag replaces it
    res = run("ask", "q?", "-n", "u", "--backend", "scripte", code=2)
    assert "did you mean 'scripted'?" in res.flat


def test_script_and_base_url_imply_their_backend(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentrag.cli_common import settings_for

    for var in ("AGENTRAG_CONFIG", "AGENTRAG_LLM__KIND", "AGENTRAG_LLM__BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    s = settings_for(script=script)
    assert isinstance(s.llm, ScriptedConfig) and s.llm.replies["answerer/cited"] == SCRIPT["answerer/cited"]
    s = settings_for(base_url="http://127.0.0.1:8000/v1", model="qwen")
    assert isinstance(s.llm, OpenAIConfig) and (s.llm.base_url, s.llm.model) == ("http://127.0.0.1:8000/v1", "qwen")
    with pytest.raises(ConfigError, match="--script implies --backend scripted"):
        settings_for(backend="openai", script=script)
    with pytest.raises(ConfigError, match="--base-url implies --backend openai"):
        settings_for(backend="local", base_url="http://h/v1")


@pytest.mark.parametrize("command", ["ingest", "ask", "demo", "serve"])
def test_every_generator_command_takes_script_and_base_url(run: Run, command: str) -> None:
    flat = run(command, "--help").flat
    assert "--script" in flat and "implies --backend scripted" in flat and "--base-url" in flat


def test_ingest_with_derive_runs_on_a_script(run: Run, tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        json.dumps(
            {
                "constructor/facts": json.dumps({"facts": []}),
                "constructor/episode": json.dumps({"title": "t", "summary": "Alice talked about Paris."}),
            }
        )
    )
    (tmp_path / "chat.jsonl").write_text(json.dumps({"speaker": "Alice", "content": "I live in Paris."}) + "\n")
    res = run("ingest", "chat.jsonl", "-n", "u", "--script", "s.yaml")
    assert "1 raw items" in res.flat
