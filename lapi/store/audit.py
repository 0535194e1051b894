"""The audit log (migration 0006): append-only rows saying who consulted, exported, altered,
disclosed or erased what kind of data, when, why, with which parameters and how many results.

It never holds the data itself: parameters are the query (a searched plate is the query), counts
are counts.  :meth:`AuditLog.record` takes an optional connection so an erasure or a delivery is
logged in the same transaction as what it records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from lapi.auth import Principal

if TYPE_CHECKING:
    from lapi.store.db import Store

ACTIONS = ("consultation", "export", "alteration", "disclosure", "erasure")
_COLUMNS = ("id, at, principal, role, habilitation, token_id, action, operation, justification, parameters,"
            " result_count, status")


@dataclass(frozen=True)
class AuditEntry:
    principal: str
    role: str
    action: str
    operation: str
    parameters: dict[str, Any] = field(default_factory=dict)
    result_count: int | None = None
    justification: str | None = None
    habilitation: str = ""
    token_id: int | None = None
    status: int | None = None

    @classmethod
    def of(cls, who: Principal, action: str, operation: str, **kwargs: Any) -> AuditEntry:
        return cls(who.name, who.role, action, operation, habilitation=who.habilitation, token_id=who.token_id,
                   **kwargs)

    def row(self) -> tuple:
        if self.action not in ACTIONS:
            raise ValueError(f"audit action must be one of {ACTIONS}, got {self.action!r}")
        return (self.principal, self.role, self.habilitation, self.token_id, self.action, self.operation,
                self.justification, Jsonb(self.parameters), self.result_count, self.status)


_INSERT = ("INSERT INTO audit_log (principal, role, habilitation, token_id, action, operation, justification,"
           " parameters, result_count, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(self, *entries: AuditEntry, conn: psycopg.AsyncConnection | None = None) -> None:
        """Append ``entries`` (in the caller's transaction when ``conn`` is given)."""
        if not entries:
            return
        rows = [e.row() for e in entries]
        if conn is not None:
            await conn.cursor().executemany(_INSERT, rows)
            return
        async with self.store.pool.connection() as own:
            await own.cursor().executemany(_INSERT, rows)

    async def query(self, principal: str | None = None, action: str | None = None, operation: str | None = None,
                    justification: str | None = None, start: datetime | None = None, end: datetime | None = None,
                    before_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Entries, newest first; ``operation`` matches as a substring (e.g. 'sightings')."""
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_COLUMNS} FROM audit_log WHERE (%(p)s::text IS NULL OR principal = %(p)s)"
                " AND (%(a)s::text IS NULL OR action = %(a)s)"
                " AND (%(o)s::text IS NULL OR strpos(operation, %(o)s) > 0)"
                " AND (%(j)s::text IS NULL OR justification = %(j)s)"
                " AND (%(s)s::timestamptz IS NULL OR at >= %(s)s) AND (%(e)s::timestamptz IS NULL OR at < %(e)s)"
                " AND (%(b)s::bigint IS NULL OR id < %(b)s) ORDER BY id DESC LIMIT %(n)s",
                {"p": principal, "a": action, "o": operation, "j": justification, "s": start, "e": end,
                 "b": before_id, "n": limit})
            return await cur.fetchall()
