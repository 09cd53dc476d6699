"""What every ``agentrag`` command shares: the error path, plain output, global options and LLM flags.

Kept light on purpose: this module imports only ``typer`` (and through it
``click``) at module level, so ``agentrag --help`` starts at once. Rich, pydantic,
the settings and everything heavier are imported inside the functions that
need them. See ``agentrag/cli.py`` for the rule every CLI module follows.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import typer.core

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from agentrag.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
# Typer's own exits and usage errors pass through untouched (typer >= 0.16 vendors click, so no ``import click``).
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_PASS_THROUGH: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort, _CLICK_ERROR)
log = logging.getLogger("agentrag.cli")

EXIT_BUG = 1
"""An unexpected exception (a bug): one line, and ``--debug`` shows the traceback."""
EXIT_USER = 2
"""Bad input, bad settings, a missing dependency: the message says what to do."""
EXIT_NOT_FOUND = 3
"""An id, item or namespace asked for by name does not exist (``history``, ``explain``, ``forget``)."""

LLM_KINDS = ("local", "openai", "vllm", "scripted")  # mirrors agentrag.settings.LLM_KINDS (kept import-free)


@dataclass
class Opts:
    """Global options of the main command, read by every sub-command."""

    data_dir: Path | None = None
    config: Path | None = None
    debug: bool = False


OPTS = Opts()


# -- output ---------------------------------------------------------------------------
def console(stderr: bool = False) -> Console:
    """A rich console for stdout (results) or stderr (errors, logs, progress).

    Made per call (cheap), so it follows the current streams and ``COLUMNS``.
    """
    from rich.console import Console

    return Console(stderr=stderr)


def say(text: str, *, style: str | None = None, stderr: bool = False, end: str = "\n") -> None:
    """Print text exactly as given: library text is never read as rich markup (``agentrag[gpu]`` stays)."""
    console(stderr).print(text, style=style, markup=False, highlight=False, end=end, soft_wrap=True)


def warn(text: str) -> None:
    """A yellow ``warning:`` line on stderr."""
    from rich.text import Text

    console(True).print(Text.assemble(("warning: ", "bold yellow"), text), highlight=False, soft_wrap=True)


def error_line(text: str) -> None:
    """A red ``error:`` line on stderr."""
    from rich.text import Text

    console(True).print(Text.assemble(("error: ", "bold red"), text), highlight=False, soft_wrap=True)


def print_json(data: str) -> None:
    """JSON on stdout (pretty when a terminal, plain otherwise)."""
    console().print_json(data)


# -- the one error path -----------------------------------------------------------
def exit_code_for(exc: BaseException) -> int:
    """The exit status for an exception escaping a command."""
    from agentrag.errors import AgentRagError, NotFoundError

    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, AgentRagError | OSError):
        return EXIT_USER
    return EXIT_BUG


def one_line(message: str, limit: int = 600) -> str:
    """A message on one line (a ``ParseError`` carries the raw reply on lines of its own), cut at ``limit``."""
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def handle_errors(fn: F) -> F:
    """Run a command so that errors are one line and a status code, never a traceback (unless ``--debug``)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _PASS_THROUGH:
            raise
        except KeyboardInterrupt:
            error_line("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if OPTS.debug:
                raise
            code = exit_code_for(exc)
            if code == EXIT_BUG:
                log.debug("unexpected error", exc_info=True)
                where = traceback.extract_tb(exc.__traceback__)[-1]
                error_line(
                    f"internal error: {type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno}; "
                    "run with --debug for the traceback, and please report it)"
                )
            else:
                error_line(one_line(str(exc)))
            raise typer.Exit(code) from None

    return wrapper  # type: ignore[return-value]


class App(typer.Typer):
    """A Typer app whose commands share the error path and print help text verbatim.

    ``rich_markup_mode=None`` keeps square brackets in help (``[env AGENTRAG_DATA_DIR]``);
    every command and callback is wrapped by ``handle_errors``.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("rich_markup_mode", None)
        kwargs.setdefault("pretty_exceptions_enable", False)
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("add_completion", False)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        """Register a command, wrapped by ``handle_errors``."""
        return _wrapping(super().command(*args, **kwargs))

    def callback(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        """Register the group callback, wrapped by ``handle_errors``."""
        return _wrapping(super().callback(*args, **kwargs))


def _wrapping(register: Callable[[Any], Any]) -> Callable[[F], F]:
    def deco(fn: F) -> F:
        register(handle_errors(fn))
        return fn

    return deco


# -- progress ---------------------------------------------------------------------------
@contextmanager
def spinner(text: str) -> Iterator[None]:
    """A spinner on stderr for steps that take a second or more."""
    with console(True).status(text, spinner="dots"):
        yield


def progress() -> Progress:
    """The progress bar used for ingestion and evaluation (on stderr: stdout is for results)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(True),
        transient=False,
    )


# -- settings -----------------------------------------------------------------------
Backend = Annotated[
    str | None, typer.Option(help=f"generator: {'|'.join(LLM_KINDS)} (replaces the llm settings block)")
]
BaseUrl = Annotated[
    str | None, typer.Option(help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (implies --backend openai)")
]
Model = Annotated[str | None, typer.Option(help="served model name (openai/vllm) or GGUF path (local)")]
Script = Annotated[
    Path | None, typer.Option(help="YAML of prompt id -> reply for the scripted fake (implies --backend scripted)")
]


def settings_for(
    *,
    backend: str | None = None,
    base_url: str | None = None,
    model: str | None = None,
    script: Path | None = None,
    need_llm: bool = True,
) -> Settings:
    """Settings for a command: code > these flags > --config/AGENTRAG_CONFIG > environment > defaults.

    Commands that never call a generator pass ``need_llm=False``: the ``llm`` block
    is then not read at all, so a broken ``AGENTRAG_LLM__KIND`` cannot stop them.
    """
    from agentrag.settings import load_settings

    cli: dict[str, Any] = {}
    flags: dict[tuple[str, ...], str] = {}
    if OPTS.data_dir is not None:
        cli["data_dir"] = OPTS.data_dir
        flags[("data_dir",)] = f"--data-dir {OPTS.data_dir}"
    if need_llm:
        llm = llm_flags(backend, base_url, model, script, flags)
        if llm:
            cli["llm"] = llm
    return load_settings(OPTS.config, cli=cli, cli_flags=flags, skip=() if need_llm else ("llm",))


def llm_flags(
    backend: str | None,
    base_url: str | None,
    model: str | None,
    script: Path | None,
    flags: dict[tuple[str, ...], str],
) -> dict[str, Any]:
    """The ``llm`` block the flags describe; ``--script`` implies scripted and ``--base-url`` openai."""
    from agentrag.errors import ConfigError
    from agentrag.settings import peek_llm_kind

    implied = {"scripted": "--script" if script else None, "openai": "--base-url" if base_url else None}
    implied_kinds = [k for k, flag in implied.items() if flag]
    if len(implied_kinds) > 1:
        raise ConfigError("--script (scripted) and --base-url (openai) name different backends; give one")
    if backend is not None and backend not in LLM_KINDS:
        import difflib

        close = difflib.get_close_matches(backend, LLM_KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"--backend: unknown backend {backend!r}{hint}; valid choices: {', '.join(LLM_KINDS)}")
    if backend is not None and implied_kinds and backend != implied_kinds[0]:
        flag = implied[implied_kinds[0]]
        raise ConfigError(f"{flag} implies --backend {implied_kinds[0]}; it cannot be used with --backend {backend}")
    kind = backend or (implied_kinds[0] if implied_kinds else None)
    if kind is None and model is None:
        return {}
    if kind is None:
        kind = peek_llm_kind(OPTS.config)
    llm: dict[str, Any] = {"kind": kind}
    flags[("llm", "kind")] = "--backend" if backend else str(implied[kind] or "--backend")
    if base_url:
        llm["base_url"] = base_url
        flags[("llm", "base_url")] = "--base-url"
    if model:
        key = "model_path" if kind == "local" else "model"
        llm[key] = model
        flags[("llm", key)] = "--model"
    if script:
        llm["replies"] = read_script(script)
        flags[("llm", "replies")] = f"--script {script}"
    return llm


def read_script(path: Path) -> dict[str, Any]:
    """The scripted backend's replies from a YAML file, with errors that name the file."""
    import yaml

    from agentrag.errors import InputError

    if not path.is_file():
        raise InputError(f"--script {path}: {'is a folder' if path.is_dir() else 'no such file'}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"--script {path}: not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"--script {path}: not UTF-8 text ({exc.reason})") from exc
    if not isinstance(data, dict):
        raise InputError(f"--script {path}: expected a mapping of prompt id -> reply (or list of replies)")
    return data


# -- sub-apps loaded on first use ----------------------------------------------------------
class LazyCommand(typer.core.TyperGroup):
    """A stand-in for a sub-app: listed in ``--help`` with its help line, imported only when invoked."""

    def __init__(self, name: str, target: str, help_text: str) -> None:
        super().__init__(name=name, help=help_text, short_help=help_text, rich_markup_mode=None)
        self.target = target

    def load(self) -> Any:
        """Import ``module:attribute`` and turn a Typer app into its click command."""
        import importlib

        module, attr = self.target.split(":")
        obj = getattr(importlib.import_module(module), attr)
        return typer.main.get_command(obj) if isinstance(obj, typer.Typer) else obj

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        """Hand over to the real command: click runs ``ctx.command``, which is now the loaded one."""
        return self.load().make_context(info_name, args, parent=parent, **extra)


LAZY: dict[str, tuple[str, str, str | None]] = {}
"""name -> (``module:attribute`` of a Typer app, help line, module that must be importable or None)."""


def lazy_subapp(name: str, target: str, help_text: str, *, requires: str | None = None) -> None:
    """Register a sub-app by where it lives, so importing it waits until someone runs it."""
    LAZY[name] = (target, help_text, requires)


class LazyGroup(typer.core.TyperGroup):
    """The main command's group: its own commands plus the ``LAZY`` sub-apps."""

    def _lazy(self) -> dict[str, LazyCommand]:
        from importlib.util import find_spec

        out: dict[str, LazyCommand] = {}
        for name, (target, help_text, requires) in LAZY.items():
            if requires is None or find_spec(requires) is not None:
                out[name] = LazyCommand(name, target, help_text)
        return out

    def list_commands(self, ctx: Any) -> list[str]:
        """Own commands, then the lazy sub-apps (in registration order)."""
        own = super().list_commands(ctx)
        return own + [n for n in self._lazy() if n not in own]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """An own command, else a lazy stand-in."""
        return super().get_command(ctx, cmd_name) or self._lazy().get(cmd_name)
