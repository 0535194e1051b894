"""Shared watchlists in the store: the sharing columns of ``watchlists`` (migration 0007), changed
under the actor so the watchlist change log records who shared a list with whom."""

from __future__ import annotations

from typing import Any

from psycopg import errors
from psycopg.rows import dict_row

from lapi.store.db import Store
from lapi.store.errors import Conflict, NotFound
from lapi.store.watchlists import set_actor

_COLUMNS = ("name, description, max_cost::float8 AS max_cost, purpose, shared_with, provenance, created_at,"
            " created_by, (SELECT count(*) FROM watchlist_entries e WHERE e.list_name = w.name) AS entries")


async def get_sharing(store: Store, name: str) -> dict[str, Any]:
    async with store.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(f"SELECT {_COLUMNS} FROM watchlists w WHERE name = %s", (name,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no watchlist named {name!r}")
    return row


async def set_sharing(store: Store, name: str, shared_with: list[str] | None, purpose: str | None,
                      actor: str) -> dict[str, Any]:
    async with store.pool.connection() as conn:
        async with conn.transaction():
            await set_actor(conn, actor)
            cur = await conn.execute("UPDATE watchlists SET shared_with = coalesce(%s, shared_with),"
                                     " purpose = coalesce(%s, purpose) WHERE name = %s", (shared_with, purpose, name))
            if cur.rowcount == 0:
                raise NotFound(f"no watchlist named {name!r}")
    return await get_sharing(store, name)


async def import_list(store: Store, listing: dict[str, Any], rows: list[dict[str, Any]], actor: str) -> dict[str, Any]:
    """Create the imported list with its provenance, then its entries; 409 if the name is taken."""
    from psycopg.types.json import Jsonb

    max_cost = listing["max_cost"] if listing["max_cost"] is not None else store.watchlists.default_max_cost
    async with store.pool.connection() as conn:
        try:
            async with conn.transaction():
                await set_actor(conn, actor)
                await conn.execute("INSERT INTO watchlists (name, max_cost, description, created_by, purpose, provenance)"
                                   " VALUES (%s, %s, %s, %s, %s, %s)", (listing["name"], max_cost, listing["description"],
                                                                         actor, listing["purpose"], Jsonb(listing["provenance"])))
        except errors.UniqueViolation:
            raise Conflict(f"watchlist {listing['name']!r} already exists: import under another name (as=)") from None
    inserted, existing = await store.watchlists.import_entries(rows, actor) if rows else (0, 0)
    return {**await get_sharing(store, listing["name"]), "inserted": inserted, "already_present": existing}
