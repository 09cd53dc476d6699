"""API keys in the ``state`` store: which tenant a ``Bearer`` key belongs to.

A key is ``agr_<id>_<secret>``: the 12-hex ``id`` names the key in listings and
in ``revoke`` (it is no secret), the secret is 32 random bytes. Only the SHA-256
of the whole key is stored, so a copy of the database (or of a backup) lets
no one call the API; a plain hash suffices because the key is random, not a
password a person chose. Revoking keeps the row (who had access, until when).

One class serves both backends: the SQL is the same in SQLite and Postgres but
for the placeholder, so the table lives in the ledger's file (SQLite) or
database (Postgres) and every worker sees a revocation at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentrag.errors import InputError, NotFoundError
from agentrag.settings import PostgresState, Settings, SqliteState
from agentrag.types import utcnow

PREFIX = "agr_"
_KEY = re.compile(r"agr_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})")
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
TENANT_HINT = "1-40 letters, digits, _ or - (starting with a letter or digit)"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS agentrag_api_keys ("
    " id TEXT PRIMARY KEY, tenant TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL,"
    " created_at TEXT NOT NULL, revoked_at TEXT)",
    "CREATE INDEX IF NOT EXISTS agentrag_api_keys_tenant ON agentrag_api_keys(tenant)",
)
_COLS = "id, tenant, name, created_at, revoked_at"


class ApiKey(BaseModel):
    """One key as listed: never the secret, never its hash."""

    model_config = ConfigDict(frozen=True)

    id: str
    tenant: str
    name: str = ""
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


def check_tenant(tenant: str) -> str:
    """A tenant name is part of every namespace, so it is kept plainer still (no ``:``, no ``.``)."""
    if not isinstance(tenant, str) or not _TENANT.fullmatch(tenant):
        raise InputError(f"tenant {tenant!r} is not allowed; use {TENANT_HINT}")
    return tenant


def key_hash(key: str) -> str:
    """What is stored for a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """API keys on a DB-API connection (``sqlite3`` or ``psycopg``), shared by threads under a lock."""

    def __init__(self, conn: Any, placeholder: str = "?") -> None:
        self._conn = conn
        self._mark = placeholder
        self._lock = threading.RLock()
        with self._lock:
            for statement in _SCHEMA:
                self._conn.execute(statement)

    def _sql(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        with self._lock:
            cur = self._conn.execute(sql.replace("?", self._mark), args)
            return list(cur.fetchall()) if cur.description else []

    def create(self, tenant: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key for ``tenant``: its record and the key itself (shown once, never stored)."""
        check_tenant(tenant)
        key_id = secrets.token_hex(6)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        now = utcnow()
        self._sql(
            f"INSERT INTO agentrag_api_keys ({_COLS}, hash) VALUES (?, ?, ?, ?, NULL, ?)",
            (key_id, tenant, name, now.isoformat(), key_hash(key)),
        )
        return ApiKey(id=key_id, tenant=tenant, name=name, created_at=now), key

    def verify(self, key: str) -> ApiKey | None:
        """The active key ``key`` is, or None (malformed, unknown, wrong secret or revoked)."""
        match = _KEY.fullmatch(key.strip())
        if match is None:
            return None
        rows = self._sql(f"SELECT {_COLS}, hash FROM agentrag_api_keys WHERE id = ?", (match.group(1),))
        if not rows or not hmac.compare_digest(str(rows[0][5]), key_hash(key.strip())):
            return None
        found = _key(rows[0])
        return found if found.active else None

    def list_keys(self, tenant: str | None = None, *, include_revoked: bool = True) -> list[ApiKey]:
        """Keys, oldest first (one tenant's when ``tenant`` is given)."""
        args: tuple[str, ...]
        sql, args = f"SELECT {_COLS} FROM agentrag_api_keys", ()
        if tenant is not None:
            sql, args = sql + " WHERE tenant = ?", (tenant,)
        keys = [_key(r) for r in self._sql(sql + " ORDER BY created_at, id", args)]
        return [k for k in keys if include_revoked or k.active]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by its id (or by the whole key); revoking twice keeps the first time."""
        match = _KEY.fullmatch(key_id.strip())
        wanted = match.group(1) if match else key_id.strip()
        self._sql(
            "UPDATE agentrag_api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (utcnow().isoformat(), wanted),
        )
        rows = self._sql(f"SELECT {_COLS} FROM agentrag_api_keys WHERE id = ?", (wanted,))
        if not rows:
            raise NotFoundError(f"no API key with id {wanted!r}; `agentrag keys list` shows them")
        return _key(rows[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


def _key(row: Any) -> ApiKey:
    key_id, tenant, name, created, revoked = row[:5]
    return ApiKey(
        id=str(key_id),
        tenant=str(tenant),
        name=str(name),
        created_at=datetime.fromisoformat(str(created)),
        revoked_at=datetime.fromisoformat(str(revoked)) if revoked else None,
    )


def open_keys(settings: Settings) -> KeyStore:
    """The key store of ``settings.state``: the ledger's SQLite file, or its Postgres database."""
    match settings.state:
        case SqliteState():
            from agentrag.ledger import sqlite_path

            path = sqlite_path(settings)
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False, timeout=60.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            return KeyStore(conn)
        case PostgresState(dsn=dsn):
            from agentrag.ledger.postgres import _SCHEMA_LOCK, connect

            pg = connect(dsn)
            with pg.transaction():  # two workers starting at once must not both create the table
                pg.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                return KeyStore(pg, "%s")
