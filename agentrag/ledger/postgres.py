"""The ledger in Postgres: one history and provenance for every worker on every machine.

Appends to a namespace are serialised by a transaction-scoped advisory lock on
the namespace, so sequence numbers within a namespace follow commit order (a
reader that saw ``seq = N`` can never later find a committed ``N - 1``), and the
compare-and-set check reads and writes under that lock. Other namespaces are
not blocked. A trigger makes history append-only at the database level.

Needs ``psycopg`` (``pip install 'agentrag[postgres]'``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from agentrag.errors import MissingDependencyError, StoreUnavailableError
from agentrag.ledger.base import COLUMNS, DERIVED_FROM, ERASED, Change, ChangeRef, Edge, namespace_lock_key, plan_rows
from agentrag.ledger.base import entry_from_row as _entry
from agentrag.memory.store import HistoryEntry
from agentrag.runctx import current_run_id
from agentrag.types import Level, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

_COLUMNS = COLUMNS
_SCHEMA_LOCK = 0x61676E7472616701  # one advisory key for "creating agentrag's tables"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agentrag_history (
    seq        BIGSERIAL PRIMARY KEY,
    namespace  TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    level      TEXT NOT NULL,
    event      TEXT NOT NULL,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    before     TEXT,
    after      TEXT,
    related_id TEXT,
    run_id     TEXT
);
CREATE INDEX IF NOT EXISTS agentrag_history_item ON agentrag_history(namespace, item_id, seq);
CREATE INDEX IF NOT EXISTS agentrag_history_level ON agentrag_history(namespace, level, seq);
CREATE INDEX IF NOT EXISTS agentrag_history_ns ON agentrag_history(namespace, seq);
CREATE OR REPLACE FUNCTION agentrag_history_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE'
     AND (NEW.seq, NEW.namespace, NEW.item_id, NEW.level, NEW.event, NEW.at, NEW.actor, NEW.related_id, NEW.run_id)
         IS NOT DISTINCT FROM
         (OLD.seq, OLD.namespace, OLD.item_id, OLD.level, OLD.event, OLD.at, OLD.actor, OLD.related_id, OLD.run_id)
     AND (NEW.before IS NULL OR NEW.before IS NOT DISTINCT FROM OLD.before)
     AND (NEW.after IS NULL OR NEW.after IS NOT DISTINCT FROM OLD.after)
     AND (NEW.reason IS NOT DISTINCT FROM OLD.reason OR NEW.reason = '__ERASED__') THEN
    RETURN NEW;  -- forget erasing text: the one edit history allows
  END IF;
  RAISE EXCEPTION 'history is append-only (forget may only erase text)';
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS agentrag_history_no_change ON agentrag_history;
CREATE TRIGGER agentrag_history_no_change BEFORE UPDATE OR DELETE ON agentrag_history
    FOR EACH ROW EXECUTE FUNCTION agentrag_history_append_only();
CREATE TABLE IF NOT EXISTS agentrag_provenance (
    ord       BIGSERIAL,
    namespace TEXT NOT NULL,
    src       TEXT NOT NULL,
    dst       TEXT NOT NULL,
    kind      TEXT NOT NULL,
    at        TEXT NOT NULL,
    PRIMARY KEY (namespace, src, dst, kind)
);
CREATE INDEX IF NOT EXISTS agentrag_provenance_dst ON agentrag_provenance(namespace, dst);
""".replace("__ERASED__", ERASED)


def connect(dsn: str) -> Any:
    """An autocommit psycopg connection (transactions are explicit), with a clear error when unreachable."""
    try:
        import psycopg
    except ImportError as exc:
        raise MissingDependencyError("psycopg", "postgres", "the Postgres state store needs it") from exc
    try:
        return psycopg.connect(dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        why = " ".join(str(exc).split())
        raise StoreUnavailableError(f"cannot reach the Postgres state store ({why}); check state.dsn") from exc


def _schema_ready(conn: Any) -> bool:
    """Whether the last objects ``_SCHEMA`` creates exist (catalog reads take no lock on the tables).

    A worker that starts while others write must not run ``_SCHEMA``: its ``DROP/CREATE
    TRIGGER`` after ``CREATE INDEX`` upgrades a table lock and deadlocks against their
    inserts (seen by ``agentrag bench serve`` with two workers).
    """
    row = conn.execute(
        "SELECT to_regclass('agentrag_provenance_dst') IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'agentrag_history_no_change')"
    ).fetchone()
    return bool(row and row[0])


class PostgresLedger:
    """``Ledger`` on Postgres; one connection per process, shared by threads under a lock."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn = connect(dsn)
        self._lock = threading.RLock()
        self.reconnects = 0
        """How often a lost connection was replaced (a Postgres restart costs one)."""
        if _schema_ready(self._conn):  # no DDL on a live schema: its table locks deadlock other workers' writes
            return
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            self._conn.execute(_SCHEMA)

    def append(
        self,
        namespace: str,
        changes: Sequence[Change],
        *,
        actor: str,
        edges: Sequence[Edge] = (),
        reparent: Sequence[str] = (),
        remove_nodes: Sequence[str] = (),
        open_ids: Sequence[str] = (),
    ) -> list[int]:
        """See ``Ledger.append``."""
        return self._reconnecting(
            lambda: self._append(namespace, changes, actor, edges, reparent, remove_nodes, open_ids)
        )

    def _append(
        self,
        namespace: str,
        changes: Sequence[Change],
        actor: str,
        edges: Sequence[Edge],
        reparent: Sequence[str],
        remove_nodes: Sequence[str],
        open_ids: Sequence[str],
    ) -> list[int]:
        at = utcnow().isoformat()
        with self._lock, self._conn.transaction():
            conn = self._conn
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (namespace_lock_key(namespace),))
            latest = self._latest(namespace, [c.item_id for c in changes] + list(open_ids))
            rows = plan_rows(
                namespace, changes, latest, actor=actor, at=at, run_id=current_run_id.get(), open_ids=open_ids
            )
            seqs: list[int] = []
            if rows:
                cols = list(zip(*rows, strict=True))
                cur = conn.execute(
                    "INSERT INTO agentrag_history (item_id, level, event, at, actor, reason, before, after,"
                    " related_id, run_id, namespace)"
                    " SELECT i, l, e, a, ac, r, b, af, rel, run, %s FROM unnest("
                    "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
                    " %s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS t(i, l, e, a, ac, r, b, af, rel, run, o)"
                    " ORDER BY o RETURNING seq",
                    (namespace, *[list(c) for c in cols]),
                )
                seqs = sorted(int(r[0]) for r in cur.fetchall())
            for src in reparent:
                conn.execute(
                    "DELETE FROM agentrag_provenance WHERE namespace = %s AND src = %s AND kind = %s",
                    (namespace, src, DERIVED_FROM),
                )
            if remove_nodes:
                ids = list(remove_nodes)
                conn.execute(
                    "DELETE FROM agentrag_provenance WHERE namespace = %s AND (src = ANY(%s) OR dst = ANY(%s))",
                    (namespace, ids, ids),
                )
            if edges:
                conn.cursor().executemany(
                    "INSERT INTO agentrag_provenance (namespace, src, dst, kind, at) VALUES (%s, %s, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [(namespace, e.src, e.dst, e.kind, at) for e in edges],
                )
        return seqs

    def _latest(self, namespace: str, ids: Sequence[str]) -> dict[str, HistoryEntry]:
        if not ids:
            return {}
        rows = self._conn.execute(
            f"SELECT DISTINCT ON (item_id) {_COLUMNS} FROM agentrag_history"
            " WHERE namespace = %s AND item_id = ANY(%s) ORDER BY item_id, seq DESC",
            (namespace, list(dict.fromkeys(ids))),
        ).fetchall()
        return {r[1]: _entry(r) for r in rows}

    def _read(self, sql: str, args: Sequence[object]) -> list[Any]:
        return self._reconnecting(lambda: list(self._conn.execute(sql, args).fetchall()))

    def _reconnecting(self, call: Callable[[], T]) -> T:
        """Run ``call``; if the connection was lost (Postgres restarted), reconnect once and run it again.

        One retry, never a loop: a server that is still down gives ``StoreUnavailableError``
        at once. Re-running an append is safe: the ledger skips a replayed entry identical
        to the item's latest and edges are insert-or-ignore, so an append whose commit
        did land before the connection dropped is not doubled.
        """
        import psycopg

        with self._lock:
            try:
                return call()
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if not (self._conn.closed or self._conn.broken):
                    raise
                log.warning("lost the Postgres connection (%s); reconnecting once", str(exc).strip()[:200])
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = connect(self._dsn)
            self.reconnects += 1
            try:
                return call()
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                raise StoreUnavailableError(
                    f"the Postgres state store failed again after reconnecting: {' '.join(str(exc).split())}"
                ) from exc

    def last_seq(self, namespace: str, level: Level | None = None, *, below: int | None = None) -> int:
        """See ``Ledger.last_seq``."""
        sql = "SELECT MAX(seq) FROM agentrag_history WHERE namespace = %s"
        args: list[object] = [namespace]
        if level is not None:
            sql, args = sql + " AND level = %s", [*args, level]
        if below is not None:
            sql, args = sql + " AND seq < %s", [*args, below]
        return int(self._read(sql, args)[0][0] or 0)

    def changes_since(self, namespace: str, level: Level, after: int) -> list[ChangeRef]:
        """See ``Ledger.changes_since``."""
        rows = self._read(
            "SELECT DISTINCT ON (item_id) seq, item_id, event, after FROM agentrag_history"
            " WHERE namespace = %s AND level = %s AND seq > %s ORDER BY item_id, seq DESC",
            (namespace, level, after),
        )
        return sorted((ChangeRef(int(s), i, e, a) for s, i, e, a in rows), key=lambda c: c.seq)

    def entries(self, namespace: str, item_id: str) -> list[HistoryEntry]:
        """See ``Ledger.entries``."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM agentrag_history WHERE namespace = %s AND item_id = %s ORDER BY seq",
            (namespace, item_id),
        )
        return [_entry(r) for r in rows]

    def latest(self, namespace: str, item_id: str) -> HistoryEntry | None:
        """See ``Ledger.latest``."""
        return self._reconnecting(lambda: self._latest(namespace, [item_id]).get(item_id))

    def edges(self, namespace: str) -> list[Edge]:
        """See ``Ledger.edges``."""
        rows = self._read(
            "SELECT src, dst, kind FROM agentrag_provenance WHERE namespace = %s ORDER BY ord", (namespace,)
        )
        return [Edge(s, d, k) for s, d, k in rows]

    def count(self, namespace: str) -> int:
        """See ``Ledger.count``."""
        return int(self._read("SELECT COUNT(*) FROM agentrag_history WHERE namespace = %s", (namespace,))[0][0])

    def scrub(self, namespace: str, ids: Sequence[str]) -> int:
        """See ``Ledger.scrub``; then VACUUM the table so dead row versions with the text are reclaimed."""
        unique = list(dict.fromkeys(ids))
        if not unique:
            return 0
        return self._reconnecting(lambda: self._scrub(namespace, unique))

    def _scrub(self, namespace: str, unique: list[str]) -> int:
        with self._lock:
            with self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (namespace_lock_key(namespace),))
                a = self._conn.execute(
                    "UPDATE agentrag_history SET before = NULL, after = NULL, reason = %s"
                    " WHERE namespace = %s AND item_id = ANY(%s) AND event != 'forget'",
                    (ERASED, namespace, unique),
                ).rowcount
                b = self._conn.execute(
                    "UPDATE agentrag_history SET reason = %s,"
                    " after = CASE WHEN event = 'supersede' THEN NULL ELSE after END"
                    " WHERE namespace = %s AND related_id = ANY(%s) AND NOT item_id = ANY(%s)",
                    (ERASED, namespace, unique, unique),
                ).rowcount
            self._conn.execute("VACUUM agentrag_history")
        return int(a) + int(b)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
