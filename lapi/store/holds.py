"""Procedure holds: reads kept beyond their retention because a procedure needs them.

A hold names a procedure reference, what it keeps (read ids, or a plate over a time window) and
its own expiry; who attached it and under which habilitation.  Released holds stay on record.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

from lapi.auth import Principal
from lapi.store.errors import Conflict, NotFound

if TYPE_CHECKING:
    from lapi.store.db import Store

_COLUMNS = ("id, procedure, read_id, read_at, plate_norm, window_start, window_end, expires_at, note, created_at,"
            " created_by, habilitation, released_at, released_by,"
            " (released_at IS NULL AND expires_at > now()) AS active")


class HoldStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def hold_reads(self, procedure: str, read_ids: list[int], expires_at: datetime, note: str,
                         who: Principal) -> list[dict[str, Any]]:
        """Hold these reads (all must exist); one hold per read."""
        async with self.store.pool.connection() as conn:
            async with conn.transaction():
                cur = await conn.execute("SELECT id, read_at FROM plate_reads WHERE id = ANY(%s)", (read_ids,))
                found = dict(await cur.fetchall())
                missing = sorted(set(read_ids) - set(found))
                if missing:
                    raise NotFound(f"no read with id {', '.join(map(str, missing[:20]))} (erased, or never stored)")
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(
                    f"INSERT INTO procedure_holds (procedure, read_id, read_at, expires_at, note, created_by, habilitation)"
                    f" SELECT %s, r.id, r.read_at, %s, %s, %s, %s FROM unnest(%s::bigint[], %s::timestamptz[])"
                    f" AS r (id, read_at) RETURNING {_COLUMNS}",
                    (procedure, expires_at, note, who.name, who.habilitation, list(found), list(found.values())))
                return await cur.fetchall()

    async def hold_plate(self, procedure: str, plate_norm: str, start: datetime, end: datetime, expires_at: datetime,
                         note: str, who: Principal) -> dict[str, Any]:
        """Hold every read of a plate in [start, end), those stored and any still to come."""
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"INSERT INTO procedure_holds (procedure, plate_norm, window_start, window_end, expires_at, note,"
                f" created_by, habilitation) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (procedure, plate_norm, start, end, expires_at, note, who.name, who.habilitation))
            return await cur.fetchone()

    async def holds(self, procedure: str | None = None, active: bool | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_COLUMNS} FROM procedure_holds WHERE (%(p)s::text IS NULL OR procedure = %(p)s)"
                " AND (%(a)s::boolean IS NULL OR (released_at IS NULL AND expires_at > now()) = %(a)s)"
                " ORDER BY id DESC LIMIT %(n)s", {"p": procedure, "a": active, "n": limit})
            return await cur.fetchall()

    async def release(self, hold_id: int, who: Principal) -> dict[str, Any]:
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(f"UPDATE procedure_holds SET released_at = now(), released_by = %s"
                              f" WHERE id = %s AND released_at IS NULL RETURNING {_COLUMNS}", (who.name, hold_id))
            row = await cur.fetchone()
            if row is not None:
                return row
            cur = await conn.execute("SELECT released_at, released_by FROM procedure_holds WHERE id = %s", (hold_id,))
            found = await cur.fetchone()
        if found is None:
            raise NotFound(f"no hold with id {hold_id}")
        raise Conflict(f"hold {hold_id} was already released by {found[1]} at {found[0].isoformat()}")
