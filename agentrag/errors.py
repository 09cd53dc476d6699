"""Errors that tell the user what went wrong and what to do about it.

Every error raised on purpose by agentrag is an ``AgentRagError``, so an app can
catch one type at its boundary. Messages name the bad value and, where there is a
fixed set of choices, list them.
"""

from __future__ import annotations

from collections.abc import Iterable


class AgentRagError(Exception):
    """Base class of every error agentrag raises on purpose."""


class ConfigError(AgentRagError):
    """Settings are missing, unknown or invalid."""

    @classmethod
    def invalid_choice(cls, what: str, got: object, choices: Iterable[str]) -> ConfigError:
        """Build the message for a value outside a fixed set, listing the valid ones."""
        listed = ", ".join(sorted(choices))
        return cls(f"unknown {what} {got!r}; valid choices: {listed}")


class MissingDependencyError(AgentRagError):
    """An optional package is needed and not installed; the message has the pip line."""

    def __init__(self, package: str, extra: str | None = None, why: str = "") -> None:
        target = f"agentrag[{extra}]" if extra else package
        hint = f"pip install '{target}'"
        reason = f" ({why})" if why else ""
        super().__init__(f"{package} is not installed{reason}; install it with: {hint}")
        self.package = package
        self.install_line = hint


class PromptError(AgentRagError):
    """A prompt file is missing, malformed, or rendered with the wrong inputs."""


class ParseError(AgentRagError):
    """Model output could not be turned into the expected structure, even after a retry."""

    def __init__(self, prompt_id: str, model_name: str, raw: str, detail: str) -> None:
        shown = raw if len(raw) <= 2000 else raw[:2000] + f"... [{len(raw) - 2000} more chars]"
        super().__init__(
            f"could not parse the output of prompt {prompt_id!r} as {model_name}: {detail}\nraw output:\n{shown}"
        )
        self.prompt_id = prompt_id
        self.raw = raw


class BackendError(AgentRagError):
    """A generator backend failed: down, timed out, or returned an error."""


class InputError(AgentRagError):
    """User input is empty, too large, binary or otherwise unusable."""


class NamespaceError(InputError):
    """A namespace string is not allowed (empty, a path, a filter expression...)."""


class MemoryStoreError(AgentRagError):
    """The memory store failed or was asked for something it does not hold."""


class ConflictError(MemoryStoreError):
    """A compare-and-set lost: another writer changed the item first (e.g. superseded it)."""


class NotFoundError(MemoryStoreError):
    """An item or namespace asked for by name does not exist (HTTP 404, CLI exit status 3)."""


class BackendUnavailableError(BackendError):
    """The generator failed as a server: down, timed out, 5xx, or a broken reply (cut off, not JSON, no choices).

    Kept apart from errors about one request (a prompt the model rejects) so that steps
    which degrade gracefully on one bad reply (a yes/no decision read as "unparsable")
    stop the run at once instead of calling a failing server again for every remaining
    step. Trying again later may work.
    """


class StoreUnavailableError(MemoryStoreError):
    """A store is unreachable or full (Chroma server down, Postgres restarting, no space left on the disk).

    Nothing was half-written: re-running the same call once the store is back gives the
    state an uninterrupted call would have (HTTP 503, CLI exit status 2).
    """
