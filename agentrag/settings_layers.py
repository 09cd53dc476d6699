"""How settings are assembled: one precedence rule, and errors that say where a bad value came from.

Layers, highest first (README "Settings precedence" shows the same table, and
``tests/unit/test_settings.py`` checks it row by row):

1. code: keyword arguments to ``load_settings`` (``AgentRAG(load_settings(...))``),
2. command-line flags (``--data-dir``, ``--backend``, ``--base-url``, ``--model``, ``--script``),
3. the YAML file named by ``--config``, else by ``AGENTRAG_CONFIG``,
4. ``AGENTRAG_*`` environment variables (nested keys joined with ``__``),
5. defaults.

Layers are deep-merged key by key, with one exception that makes backends safe to
switch: a block that is a discriminated union (``llm``, ``chroma``) whose ``kind``
differs from the lower layers' replaces the whole block. So ``--backend scripted``
over ``AGENTRAG_LLM__KIND=openai AGENTRAG_LLM__BASE_URL=...`` gives a clean scripted
config, not "scripted with an unknown base_url".

Each value remembers its origin, so a validation error names the environment
variable, the file and key, or the flag that was wrong, and offers close matches
for misspelt keys. Pydantic-settings' own sources are not used because they merge
nested blocks across sources, which is exactly what rule (2) must not do.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from agentrag.errors import ConfigError

ENV_PREFIX = "AGENTRAG_"
ENV_CONFIG = "AGENTRAG_CONFIG"
Path_ = tuple[str, ...]


@dataclass
class Layer:
    """One source of settings and how to name each key it set."""

    name: str
    values: dict[str, Any] = field(default_factory=dict)
    labels: dict[Path_, str] = field(default_factory=dict)

    def label(self, path: Path_) -> str:
        """The user-facing name of ``path`` in this layer (or of its nearest set parent)."""
        for n in range(len(path), 0, -1):
            if path[:n] in self.labels:
                return self.labels[path[:n]]
        return f"{self.name}: {'.'.join(path)}"


def code_layer(values: Mapping[str, Any]) -> Layer:
    """Keyword arguments given in code."""
    layer = Layer("code", dict(values))
    for path in _paths(layer.values):
        layer.labels[path] = f"load_settings({'.'.join(path)}=...)"
    return layer


def cli_layer(values: Mapping[str, Any], flags: Mapping[Path_, str]) -> Layer:
    """Command-line flags; ``flags`` maps a key path to the flag that set it (e.g. ``("llm", "kind") -> --backend``)."""
    return Layer("command line", dict(values), dict(flags))


def file_layer(path: Path, how: str) -> Layer:
    """The YAML file named by ``--config`` or ``AGENTRAG_CONFIG`` (``how`` says which)."""
    if path.is_dir() or not path.exists():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ConfigError(f"config file {str(path)!r} (from {how}) {what}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} (from {how}) is not valid YAML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} (from {how}) cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} (from {how}) must hold a mapping at the top level")
    layer = Layer(f"config file {path}", data)
    for p in _paths(data):
        layer.labels[p] = f"{path}: key {'.'.join(p)}"
    return layer


def env_layer(model: type[BaseModel], environ: Mapping[str, str] | None = None) -> Layer:
    """``AGENTRAG_*`` variables whose first segment is a settings field; JSON values for ``{...}``/``[...]``."""
    env = os.environ if environ is None else environ
    layer = Layer("environment")
    fields = set(model.model_fields)
    for name, raw in sorted(env.items()):
        if not name.upper().startswith(ENV_PREFIX) or name.upper() == ENV_CONFIG:
            continue
        path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if path[0] not in fields or not all(path):
            continue  # other AGENTRAG_* variables (e.g. AGENTRAG_CACHE_DIR) belong to other tools
        value: Any = raw
        if raw.strip()[:1] in ("{", "["):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"environment variable {name} is not valid JSON: {exc.msg}") from exc
        node = layer.values
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {name} conflicts with another AGENTRAG_ variable")
            node = child
        node[path[-1]] = value
        layer.labels[path] = f"environment variable {name}"
        for p in _paths(value, path) if isinstance(value, dict) else ():
            layer.labels[p] = f"environment variable {name} (key {'.'.join(p[len(path):])})"
    return layer


def _paths(values: Any, prefix: Path_ = ()) -> Iterable[Path_]:
    if isinstance(values, dict):
        for k, v in values.items():
            yield (*prefix, str(k))
            yield from _paths(v, (*prefix, str(k)))


def merge(lower: dict[str, Any], higher: Mapping[str, Any], unions: Iterable[str]) -> dict[str, Any]:
    """Deep-merge ``higher`` over ``lower``; a union block naming another ``kind`` replaces the whole block."""
    out = dict(lower)
    union_keys = set(unions)
    for key, value in higher.items():
        below = out.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            switched = key in union_keys and "kind" in value and value["kind"] != below.get("kind")
            out[key] = dict(value) if switched else merge(below, value, ())
        else:
            out[key] = value
    return out


def build(model: type[BaseModel], layers: list[Layer], unions: Mapping[str, Mapping[str, type[BaseModel]]]) -> Any:
    """Merge ``layers`` (lowest first) and validate; errors name the origin of each bad value."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = merge(merged, layer.values, unions)
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        problems = [_explain(model, err, merged, layers, unions) for err in exc.errors()]
        raise ConfigError("invalid settings: " + "; ".join(dict.fromkeys(problems))) from exc


def _explain(
    model: type[BaseModel],
    err: Any,
    merged: dict[str, Any],
    layers: list[Layer],
    unions: Mapping[str, Mapping[str, type[BaseModel]]],
) -> str:
    loc = [str(p) for p in err["loc"]]
    # A discriminated union puts the tag in the location (llm.openai.base_url): drop it.
    if len(loc) > 1 and loc[0] in unions and loc[1] in unions[loc[0]]:
        del loc[1]
    kind = err["type"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        path = (*loc, "kind")
        choices = ", ".join(sorted(unions.get(loc[0], {})))
        got = merged.get(loc[0], {}).get("kind") if isinstance(merged.get(loc[0]), dict) else None
        what = f"unknown {loc[0]} kind {got!r}" if got is not None else f"{loc[0]}.kind is missing"
        return f"{_origin(path, layers)}: {what}; valid choices: {choices}"
    path = tuple(loc)
    if kind == "extra_forbidden":
        known = _fields_at(model, path[:-1], merged, unions)
        close = difflib.get_close_matches(path[-1], known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(sorted(known))}"
        return f"{_origin(path, layers)}: unknown setting {'.'.join(path)!r}{hint}"
    return f"{_origin(path, layers)}: {err['msg']}"


def _origin(path: Path_, layers: list[Layer]) -> str:
    """The label of the highest layer that set ``path`` (or a parent of it)."""
    for layer in reversed(layers):
        node: Any = layer.values
        for n, part in enumerate(path):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
            if n == len(path) - 1 or not isinstance(node, dict):
                return layer.label(path[: n + 1])
    return f"setting {'.'.join(path)}"


def _fields_at(
    model: type[BaseModel], path: Path_, merged: dict[str, Any], unions: Mapping[str, Mapping[str, type[BaseModel]]]
) -> list[str]:
    cls: type[BaseModel] | None = model
    node: Any = merged
    for part in path:
        if cls is None:
            return []
        node = node.get(part, {}) if isinstance(node, dict) else {}
        if part in unions and cls is model:
            cls = unions[part].get(str(node.get("kind", ""))) if isinstance(node, dict) else None
            continue
        info = cls.model_fields.get(part)
        cls = next((a for a in _candidates(info.annotation) if _is_model(a)), None) if info else None
    return list(cls.model_fields) if cls is not None else []


def _candidates(annotation: Any) -> list[Any]:
    return [annotation, *get_args(annotation)]


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)
