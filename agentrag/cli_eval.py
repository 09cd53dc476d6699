"""``agentrag eval``: the evaluation harness, which ships in the wheel (``evals``).

Its plots need the ``eval`` extra. Without it the command is still listed and,
whatever arguments it is given, prints the exact pip line instead of click's
"No such command". Light at import (see ``agentrag/cli.py``): ``evals`` loads
only when the command runs.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

import typer

from agentrag.cli_common import App

_ANY_ARGS: dict[str, Any] = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def missing_module() -> str | None:
    """The module the harness needs and cannot import, or None when it can run."""
    for name in ("matplotlib", "evals"):
        try:
            if find_spec(name) is None:
                return name
        except ValueError:  # a module blocked in sys.modules (set to None)
            return name
    return None


def _app() -> typer.Typer:
    missing = missing_module()
    if missing is None:
        from evals.cli import eval_app

        return eval_app
    stand_in = App(no_args_is_help=False)

    @stand_in.command("eval", context_settings=_ANY_ARGS)
    def eval_missing(ctx: typer.Context) -> None:
        """Say what to install (a single command, so every argument lands here)."""
        from agentrag.errors import MissingDependencyError

        raise MissingDependencyError(missing, extra="eval", why="agentrag eval needs it")

    return stand_in


eval_app = _app()
