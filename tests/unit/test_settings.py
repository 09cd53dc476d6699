"""Settings: the precedence table in README.md, read from the README and checked row by row; messages."""

import itertools
import re
from pathlib import Path

import pytest

from agentrag.errors import ConfigError, MissingDependencyError
from agentrag.settings import LocalLLMConfig, OpenAIConfig, ScriptedConfig, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_precedence() -> list[str]:
    """The layer names of README's "Settings precedence" table, highest first."""
    text = README.read_text()
    section = text[text.index("### Settings precedence") :]
    rows = re.findall(r"^\| (\d) \| ([a-z ]+) \|", section, flags=re.MULTILINE)
    return [name for _, name in sorted(rows, key=lambda r: int(r[0]))]


def test_readme_table_names_every_layer_once():
    assert readme_precedence() == ["code", "command line", "config file", "environment", "defaults"]


LAYERS = ["code", "command line", "config file", "environment"]
VALUES = {"code": 11, "command line": 12, "config file": 13, "environment": 14, "defaults": 4}


@pytest.mark.parametrize(
    "present", [c for n in range(len(LAYERS) + 1) for c in itertools.combinations(LAYERS, n)], ids=str
)
def test_precedence_follows_the_readme_table(present, tmp_path, monkeypatch):
    """Every combination of layers setting max_rounds: the highest in README's table wins."""
    env = {"AGENTRAG_DATA_DIR": str(tmp_path)}
    kwargs: dict = {}
    if "environment" in present:
        env["AGENTRAG_MAX_ROUNDS"] = str(VALUES["environment"])
    if "config file" in present:
        cfg = tmp_path / "cfg.yaml"
        cfg.write_text(f"max_rounds: {VALUES['config file']}\n")
        env["AGENTRAG_CONFIG"] = str(cfg)
    if "command line" in present:
        kwargs["cli"] = {"max_rounds": VALUES["command line"]}
    if "code" in present:
        kwargs["max_rounds"] = VALUES["code"]
    winner = next(layer for layer in readme_precedence() if layer in present or layer == "defaults")
    assert load_settings(environ=env, **kwargs).max_rounds == VALUES[winner]


def test_config_flag_beats_agentrag_config_and_the_environment(tmp_path):
    named, ambient = tmp_path / "named.yaml", tmp_path / "ambient.yaml"
    named.write_text("max_rounds: 7\n")
    ambient.write_text("max_rounds: 9\n")
    env = {"AGENTRAG_CONFIG": str(ambient), "AGENTRAG_MAX_ROUNDS": "5"}
    assert load_settings(named, environ=env).max_rounds == 7
    assert load_settings(environ=env).max_rounds == 9  # AGENTRAG_CONFIG beats AGENTRAG_MAX_ROUNDS too


def test_a_layer_naming_another_backend_replaces_the_whole_llm_block(tmp_path):
    env = {"AGENTRAG_LLM__KIND": "openai", "AGENTRAG_LLM__BASE_URL": "http://127.0.0.1:9/v1"}
    s = load_settings(environ=env, cli={"llm": {"kind": "scripted"}})
    assert isinstance(s.llm, ScriptedConfig)
    # the same kind merges: the file's model survives a --base-url
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("llm: {kind: openai, model: qwen, timeout_s: 5}\n")
    s = load_settings(cfg, environ=env, cli={"llm": {"kind": "openai", "base_url": "http://h:1/v1"}})
    assert isinstance(s.llm, OpenAIConfig)
    assert (s.llm.model, s.llm.timeout_s, s.llm.base_url) == ("qwen", 5, "http://h:1/v1")


def test_env_values_nested_and_json(tmp_path):
    env = {
        "AGENTRAG_DATA_DIR": str(tmp_path),
        "AGENTRAG_LLM__KIND": "scripted",
        "AGENTRAG_LLM__REPLIES": '{"a": "b"}',
        "AGENTRAG_CACHE_DIR": "/elsewhere",  # other tools' variables are not settings
    }
    s = load_settings(environ=env)
    assert isinstance(s.llm, ScriptedConfig) and s.llm.replies == {"a": "b"} and s.data_dir == tmp_path
    assert isinstance(load_settings(environ={}).llm, LocalLLMConfig)


def test_errors_name_the_variable_file_key_or_flag_with_did_you_mean(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_settings(environ={"AGENTRAG_LLM__KIND": "nonsense"})
    assert str(e.value) == (
        "invalid settings: environment variable AGENTRAG_LLM__KIND: unknown llm kind 'nonsense'; "
        "valid choices: local, openai, scripted, vllm"
    )
    with pytest.raises(ConfigError, match=r"environment variable AGENTRAG_LLM__TEMPRATURE: .*did you mean 'temperature'"):
        load_settings(environ={"AGENTRAG_LLM__TEMPRATURE": "0.2"})
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("max_roundz: 3\n")
    with pytest.raises(ConfigError, match=r"cfg.yaml: key max_roundz: unknown setting 'max_roundz'; did you mean 'max_rounds'"):
        load_settings(cfg, environ={})
    with pytest.raises(ConfigError, match=r"--data-dir .*is a file, not a folder"):
        load_settings(environ={}, cli={"data_dir": cfg}, cli_flags={("data_dir",): f"--data-dir {cfg}"})
    with pytest.raises(ConfigError, match=r"load_settings\(llm.temprature=...\)"):
        load_settings(environ={}, llm={"kind": "local", "temprature": 0.2})
    with pytest.raises(ConfigError) as e:
        load_settings(environ={"AGENTRAG_MAX_ROUNDS": "many"})
    assert "AGENTRAG_MAX_ROUNDS" in str(e.value) and "llm kinds" not in str(e.value)


def test_a_broken_llm_block_does_not_stop_what_does_not_use_it():
    env = {"AGENTRAG_LLM__KIND": "nonsense"}
    assert load_settings(environ=env, skip=("llm",)).max_rounds == 4
    with pytest.raises(ConfigError, match="AGENTRAG_LLM__KIND"):
        load_settings(environ=env)


def test_config_file_problems_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(bad, environ={})
    with pytest.raises(ConfigError, match=r"missing.yaml' \(from AGENTRAG_CONFIG\) does not exist"):
        load_settings(environ={"AGENTRAG_CONFIG": str(tmp_path / "missing.yaml")})
    bad.write_text("llm: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, environ={})


def test_missing_dependency_message_has_pip_line():
    err = MissingDependencyError("vllm", extra="gpu", why="in-process backend")
    assert "pip install 'agentrag[gpu]'" in str(err)
    assert err.install_line == "pip install 'agentrag[gpu]'"


def test_invalid_choice_lists_choices():
    err = ConfigError.invalid_choice("backend", "gpt", ["local", "openai"])
    assert str(err) == "unknown backend 'gpt'; valid choices: local, openai"
