"""Namespace validation: the tenancy key must be boring, so it can never be misread.

A namespace ends up in a Chroma collection's metadata, in SQLite rows and in
log lines. Anything that could be mistaken for a path (``../b``), a filter
expression (``{"$ne": "a"}``, ``a OR 1=1``) or a wildcard (``*``) is refused
outright rather than escaped, because the safest tenancy key is one that has
no second reading anywhere it travels.
"""

from __future__ import annotations

import re
import unicodedata

from agentrag.errors import NamespaceError

MAX_NAMESPACE_LEN = 128
_ALLOWED = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:+-]*")
_ALLOWED_HINT = "letters, digits and _ . @ : + - (starting with a letter or digit)"
_PATH_CHARS = frozenset("/\\~")
_EXPR_CHARS = frozenset("$*?{}[]()<>=!&|'\"`;,%#^ ")


def validate_namespace(namespace: object) -> str:
    """Return ``namespace`` unchanged if it is a valid tenancy key, else raise ``NamespaceError``.

    The message says which rule was broken, so a user can fix the value at once.
    """
    if not isinstance(namespace, str):
        raise NamespaceError(f"namespace must be a string, got {type(namespace).__name__}")
    shown = repr(namespace) if len(namespace) <= 60 else repr(namespace[:60]) + "..."
    if not namespace or not namespace.strip():
        raise NamespaceError("namespace must not be empty")
    if len(namespace) > MAX_NAMESPACE_LEN:
        raise NamespaceError(f"namespace {shown} is {len(namespace)} characters; the limit is {MAX_NAMESPACE_LEN}")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in namespace):
        raise NamespaceError(f"namespace {shown} contains control characters")
    if namespace != namespace.strip():
        raise NamespaceError(f"namespace {shown} has leading or trailing whitespace")
    if any(ch in _PATH_CHARS for ch in namespace) or ".." in namespace or namespace.startswith("."):
        raise NamespaceError(f"namespace {shown} looks like a path; use {_ALLOWED_HINT}")
    if any(ch in _EXPR_CHARS for ch in namespace):
        raise NamespaceError(f"namespace {shown} looks like a filter expression; use {_ALLOWED_HINT}")
    if not _ALLOWED.fullmatch(namespace):
        raise NamespaceError(f"namespace {shown} has characters outside {_ALLOWED_HINT}")
    return namespace
