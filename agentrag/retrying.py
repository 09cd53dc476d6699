"""Which failures a graph node retries, and how often (LangGraph ``RetryPolicy``).

A node that calls the generator or the memory store is retried a bounded number of
times, with backoff, when the failure is *transient*: the server was unreachable,
timed out, was overloaded (429) or failed inside (5xx), or a database connection
dropped. A failure that would happen again with the same input is never retried:
a reply that does not parse (``ParseError``, which already had its corrective
retry), bad input, a lost compare-and-set, a missing item, a 4xx answer.

Errors are classified by their cause chain, because agentrag wraps backend
exceptions in its own types (``BackendError`` ``from`` the openai error,
``MemoryStoreError`` ``from`` the psycopg one) and the cause says what happened.
"""

from __future__ import annotations

from langgraph.types import RetryPolicy

from agentrag.errors import (
    BackendUnavailableError,
    ConflictError,
    InputError,
    NotFoundError,
    ParseError,
    PromptError,
)

MAX_ATTEMPTS = 3
"""Tries per node run, the first included: two retries over about 1.5 s before the error surfaces."""

_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_PERMANENT = (ParseError, InputError, ConflictError, NotFoundError, PromptError)
_ALREADY_RETRIED = (BackendUnavailableError,)
"""The generator client's own verdict after its ``1 + max_retries`` attempts (each up to the timeout):
retrying the node would multiply the wait on a dead server (the fault suite counts the attempts)."""


def _chain(exc: BaseException, depth: int = 6) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(out) < depth and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _transient_one(exc: BaseException) -> bool:
    import httpx
    import openai

    if isinstance(exc, openai.APIConnectionError | openai.APITimeoutError):  # the timeout is a connection error
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _RETRY_STATUS
    if isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in _RETRY_STATUS
    try:
        import psycopg
    except ImportError:  # the postgres extra is not installed: no psycopg error can occur
        return False
    return isinstance(exc, psycopg.OperationalError)


def transient(exc: BaseException) -> bool:
    """True when trying the same node again may succeed (see the module docstring)."""
    chain = _chain(exc)
    if isinstance(chain[0], (*_PERMANENT, *_ALREADY_RETRIED)):
        return False
    return any(_transient_one(e) for e in chain)


LLM_RETRY = RetryPolicy(
    max_attempts=MAX_ATTEMPTS, initial_interval=0.5, backoff_factor=2.0, max_interval=4.0, jitter=True,
    retry_on=transient,
)
"""For nodes that call the generator (the backend's own client has already retried the request)."""

MEMORY_RETRY = RetryPolicy(
    max_attempts=MAX_ATTEMPTS, initial_interval=0.2, backoff_factor=2.0, max_interval=2.0, jitter=True,
    retry_on=transient,
)
"""For nodes that only read or write memory (writes are idempotent: item ids are deterministic)."""
