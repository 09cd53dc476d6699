"""Prompts live in files; this module loads and renders them, strictly.

A prompt file (``prompts/<agent>/<purpose>.yaml``) declares its id, version,
inputs and output model. Loading refuses a file whose declared inputs differ from
the variables its templates use, and rendering refuses missing or extra inputs,
so a renamed variable fails at load time instead of producing a silently blank
prompt.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from agentrag.errors import PromptError

log = logging.getLogger(__name__)

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


class PromptSpec(BaseModel):
    """The parsed contents of one prompt file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    version: int
    inputs: tuple[str, ...]
    output: str | None = None
    max_tokens: int | None = None
    """Completion budget for this call: structured replies are short, and a small model
    that starts repeating itself should be cut off early, not at the backend's default."""
    description: str = ""
    system: str
    user: str


class RenderedPrompt(BaseModel):
    """A prompt ready to send: its id (for logs, fakes and errors) and chat messages."""

    model_config = ConfigDict(frozen=True)

    id: str
    version: int
    output: str | None
    system: str
    user: str
    max_tokens: int | None = None

    def messages(self) -> list[dict[str, str]]:
        """OpenAI-style message list."""
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


def prompts_dir() -> Path:
    """The prompts folder: inside the installed package, or at the checkout's top level."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "prompts", here.parent / "prompts"):
        if candidate.is_dir():
            return candidate
    raise PromptError(f"prompts folder not found next to {here}; is the package installed correctly?")


class PromptLibrary:
    """All prompt files under one folder, validated on load, rendered on demand."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or prompts_dir()
        self._specs: dict[str, PromptSpec] = {}
        self._templates: dict[str, tuple[jinja2.Template, jinja2.Template]] = {}
        for path in sorted(self.root.rglob("*.yaml")):
            spec = load_spec(path)
            expected = path.relative_to(self.root).with_suffix("").as_posix()
            if spec.id != expected:
                raise PromptError(f"{path}: id {spec.id!r} must match its path {expected!r}")
            self._specs[spec.id] = spec
            self._templates[spec.id] = (_ENV.from_string(spec.system), _ENV.from_string(spec.user))
        log.debug("loaded %d prompts from %s", len(self._specs), self.root)

    @property
    def ids(self) -> list[str]:
        """Every prompt id, sorted."""
        return sorted(self._specs)

    def spec(self, prompt_id: str) -> PromptSpec:
        """The spec of one prompt; the error lists the known ids."""
        try:
            return self._specs[prompt_id]
        except KeyError:
            raise PromptError(f"unknown prompt {prompt_id!r}; known prompts: {', '.join(self.ids)}") from None

    def render(self, prompt_id: str, **inputs: Any) -> RenderedPrompt:
        """Render a prompt with exactly its declared inputs."""
        spec = self.spec(prompt_id)
        given, declared = set(inputs), set(spec.inputs)
        if given != declared:
            missing, extra = sorted(declared - given), sorted(given - declared)
            raise PromptError(f"prompt {prompt_id!r}: missing inputs {missing}, unexpected inputs {extra}")
        system_t, user_t = self._templates[prompt_id]
        try:
            system, user = system_t.render(**inputs).strip(), user_t.render(**inputs).strip()
        except jinja2.UndefinedError as exc:
            raise PromptError(f"prompt {prompt_id!r}: {exc}") from exc
        return RenderedPrompt(
            id=spec.id, version=spec.version, output=spec.output, system=system, user=user, max_tokens=spec.max_tokens
        )


def load_spec(path: Path) -> PromptSpec:
    """Parse and check one prompt file: declared inputs must equal the templates' variables."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec = PromptSpec.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise PromptError(f"{path}: not a valid prompt file: {exc}") from exc
    used: set[str] = set()
    for source in (spec.system, spec.user):
        try:
            used |= jinja2.meta.find_undeclared_variables(_ENV.parse(source))
        except jinja2.TemplateSyntaxError as exc:
            raise PromptError(f"{path}: template syntax error: {exc}") from exc
    declared = set(spec.inputs)
    if used != declared:
        raise PromptError(f"{path}: declared inputs {sorted(declared)} differ from template variables {sorted(used)}")
    return spec


@cache
def default_library() -> PromptLibrary:
    """The library shipped with agentrag, loaded once (it is immutable)."""
    return PromptLibrary()
