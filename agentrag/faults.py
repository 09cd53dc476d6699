"""Infrastructure failures as one typed error: a store that is down, restarting or full.

Chroma (over HTTP or embedded), the Postgres state store and the disk each fail in
their own exception types (``httpx.ConnectError``, ``psycopg.OperationalError``,
``sqlite3.OperationalError: database or disk is full``, ``OSError(ENOSPC)``, Chroma's
own ``InternalError`` wrapping any of these). Left alone they reach the user as a
traceback (CLI) or a 500 "bug" (HTTP). ``translating()`` turns exactly those into
``StoreUnavailableError`` (CLI exit 2, HTTP 503) at the store and runner boundaries,
and leaves every other exception, bugs included, untouched.

Why these are safe to report as "try again": every write appends to the ledger in
one transaction before touching Chroma, and re-running a write is idempotent (see
``agentrag/memory/chroma_store.py``), so a call cut short by one of these faults
leaves nothing that the same call, re-run, does not complete.
"""

from __future__ import annotations

import errno
import functools
import logging
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from agentrag.errors import AgentRagError, StoreUnavailableError

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

_DISK_FULL = ("database or disk is full", "no space left on device", "disk is full", "os error 28")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _DISK_FULL)


def _is_postgres_down(exc: BaseException) -> bool:
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def http_transport_error(exc: BaseException | None, *names: str) -> bool:
    """Whether ``exc`` is an httpx transport error (of one of ``names``, if given), in either httpx package.

    Chroma's client uses ``httpx`` and the OpenAI client its fork ``httpx2``; the classes
    have the same names in both, so they are matched by name and package.
    """
    wanted = names or ("TransportError",)
    return any(c.__name__ in wanted and c.__module__.split(".")[0] in ("httpx", "httpx2") for c in type(exc).__mro__)


def _line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:300] + "...") if len(text) > 300 else (text or type(exc).__name__)


def unavailable(exc: BaseException, where: str = "") -> StoreUnavailableError | None:
    """The typed error for an infrastructure failure anywhere in ``exc``'s chain, or None if it is not one."""
    if isinstance(exc, AgentRagError):
        return None
    at = f" ({where})" if where else ""
    for cause in _chain(exc):
        if _is_disk_full(cause):
            return StoreUnavailableError(f"no space left on the device{at}: {_line(cause)}; free some space and retry")
        if _is_postgres_down(cause):
            return StoreUnavailableError(
                f"lost the connection to the Postgres state store{at}: {_line(cause)}; retry when it is back"
            )
        if http_transport_error(cause):
            return StoreUnavailableError(
                f"cannot reach the Chroma server{at}: {type(cause).__name__}: {_line(cause)}; retry when it is back"
            )
        if isinstance(cause, sqlite3.OperationalError) and "disk i/o error" in str(cause).lower():
            return StoreUnavailableError(f"the disk failed under a SQLite file{at}: {_line(cause)}")
    return None


@contextmanager
def translating(where: str = "") -> Iterator[None]:
    """Re-raise an infrastructure failure inside the block as ``StoreUnavailableError``; anything else as is."""
    try:
        yield
    except Exception as exc:
        err = unavailable(exc, where)
        if err is None:
            raise
        log.warning("%s", err)
        raise err from exc


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a store method so infrastructure failures surface as ``StoreUnavailableError``."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translating():
            return fn(*args, **kwargs)

    return wrapper
