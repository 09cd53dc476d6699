import pytest

from agentrag.errors import ConfigError, MissingDependencyError
from agentrag.settings import LocalLLMConfig, OpenAIConfig, ScriptedConfig, load_settings


def test_defaults_are_local_and_embedded(tmp_path, monkeypatch):
    monkeypatch.delenv("AGENTRAG_CONFIG", raising=False)
    s = load_settings(data_dir=tmp_path)
    assert isinstance(s.llm, LocalLLMConfig)
    assert s.chroma.kind == "embedded"
    assert s.data_dir == tmp_path


def test_env_prefix_and_nested_backend(monkeypatch, tmp_path):
    monkeypatch.setenv("AGENTRAG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AGENTRAG_LLM__KIND", "openai")
    monkeypatch.setenv("AGENTRAG_LLM__BASE_URL", "http://127.0.0.1:9999/v1")
    s = load_settings()
    assert isinstance(s.llm, OpenAIConfig)
    assert s.llm.base_url == "http://127.0.0.1:9999/v1"


def test_yaml_file_then_env_then_code(tmp_path, monkeypatch):
    cfg = tmp_path / "agentrag.yaml"
    cfg.write_text("llm:\n  kind: scripted\n  replies: {x: y}\nmax_rounds: 7\n")
    monkeypatch.setenv("AGENTRAG_CONFIG", str(cfg))
    s = load_settings()
    assert isinstance(s.llm, ScriptedConfig) and s.max_rounds == 7
    monkeypatch.setenv("AGENTRAG_MAX_ROUNDS", "5")
    assert load_settings().max_rounds == 5
    assert load_settings(max_rounds=3).max_rounds == 3


def test_unknown_keys_and_kinds_are_rejected(tmp_path, monkeypatch):
    monkeypatch.delenv("AGENTRAG_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="max_roundz"):
        load_settings(max_roundz=3)
    with pytest.raises(ConfigError, match="llm.local.temprature"):
        load_settings(llm={"kind": "local", "temprature": 0.2})
    with pytest.raises(ConfigError, match="local, openai, vllm, scripted"):
        load_settings(llm={"kind": "gpt"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.yaml")


def test_missing_dependency_message_has_pip_line():
    err = MissingDependencyError("vllm", extra="gpu", why="in-process backend")
    assert "pip install 'agentrag[gpu]'" in str(err)
    assert err.install_line == "pip install 'agentrag[gpu]'"


def test_invalid_choice_lists_choices():
    err = ConfigError.invalid_choice("backend", "gpt", ["local", "openai"])
    assert str(err) == "unknown backend 'gpt'; valid choices: local, openai"
