"""Watchlists in the store, and the in-memory index that matches reads against them.

Every change to a list or an entry is logged by a database trigger in ``watchlist_changes``
(who, when, before/after), whose ids commit in increasing order (migration 0003).  The index is
loaded once at start-up and then follows that log: after each of this process's own writes, and
when another process's write is announced on the ``lapi_watchlist`` channel.  So the index is
the log replayed, whoever wrote, and a read is never matched against a half-applied change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row

from lapi.store.errors import Conflict, NotFound
from lapi.matching import DEFAULT_MAX_COST, Match, WatchEntry, WatchlistIndex
from lapi.watchlists import valid_at

if TYPE_CHECKING:
    from lapi.store.db import Store

log = logging.getLogger(__name__)

ENTRY_COLUMNS = ("id, list_name, plate_norm, plate_text, kind, category, legal_purpose, reason, priority,"
                 " valid_from, valid_until, note, source, created_at, created_by, updated_at, updated_by")
LIST_COLUMNS = "name, max_cost::float8 AS max_cost, description, created_at, created_by"
RELOAD_AFTER = 20000  # more pending changes than this: reload the index instead of replaying them
_EDITABLE = ("list_name", "plate_norm", "plate_text", "category", "legal_purpose", "reason", "priority",
             "valid_from", "valid_until", "note", "source")


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def index_entry(row: Mapping[str, Any]) -> WatchEntry:
    """The matching view of an entry row (or of a change-log image of one)."""
    return WatchEntry(int(row["id"]), row["list_name"], row["plate_norm"], row["plate_text"], row["category"],
                      row["reason"], int(row["priority"]))


async def set_actor(conn: AsyncConnection, actor: str) -> None:
    """Name who makes this transaction's watchlist changes (read by the change-log trigger)."""
    await conn.execute("SELECT set_config('lapi.actor', %s, true)", (actor or "anonymous",))


class WatchlistStore:
    """The watchlist tables of one :class:`~lapi.store.db.Store` and their index."""

    def __init__(self, store: Store, default_max_cost: float = DEFAULT_MAX_COST) -> None:
        self.store = store
        self.default_max_cost = default_max_cost
        self.index = WatchlistIndex(default_max_cost=default_max_cost)
        self._validity: dict[int, tuple[datetime | None, datetime | None]] = {}  # only bounded entries
        self._change_id = 0  # last change-log id applied to the index
        self._sync_lock = asyncio.Lock()

    # the index ------------------------------------------------------------------------------
    @property
    def change_id(self) -> int:
        return self._change_id

    async def load(self) -> None:
        """Build the index from the tables, remembering which change it reflects."""
        async with self.store.pool.connection() as conn:
            async with conn.transaction():
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cur = await conn.execute("SELECT coalesce(max(id), 0) FROM watchlist_changes")
                change_id = (await cur.fetchone())[0]
                cur = await conn.execute("SELECT name, max_cost::float8 FROM watchlists")
                thresholds = dict(await cur.fetchall())
                index = WatchlistIndex(thresholds=thresholds, default_max_cost=self.default_max_cost)
                validity = {}
                cur = conn.cursor(name="lapi_watchlist_load")
                cur.itersize = 20000
                await cur.execute("SELECT id, list_name, plate_norm, plate_text, category, reason, priority,"
                                  " valid_from, valid_until FROM watchlist_entries")
                async for row in cur:
                    entry = WatchEntry(*row[:7])
                    try:
                        index.add(entry)
                    except ValueError as err:
                        log.error("watchlist entry %d not matched: %s", entry.id, err)
                        continue
                    if row[7] is not None or row[8] is not None:
                        validity[entry.id] = (row[7], row[8])
                await cur.close()
        self.index, self._validity, self._change_id = index, validity, change_id
        log.info("watchlist index: %d entries on %d lists", len(index), len(thresholds))

    async def sync(self) -> int:
        """Apply the changes logged since the index was last brought up to date; returns how many."""
        async with self._sync_lock:
            async with self.store.pool.connection() as conn:
                cur = await conn.execute("SELECT count(*) FROM watchlist_changes WHERE id > %s", (self._change_id,))
                pending = (await cur.fetchone())[0]
            if pending > RELOAD_AFTER:  # a bulk import: rebuilding beats replaying row by row
                await self.load()
                return pending
            async with self.store.pool.connection() as conn:
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute("SELECT id, entity, action, list_name, entry_id, after FROM watchlist_changes"
                                  " WHERE id > %s ORDER BY id", (self._change_id,))
                changes = await cur.fetchall()
            for change in changes:
                self._apply(change)
                self._change_id = change["id"]
            return len(changes)

    def _apply(self, change: Mapping[str, Any]) -> None:
        after = change["after"]
        if change["entity"] == "list":
            if change["action"] == "delete":
                self.index.set_threshold(change["list_name"], None)
            else:
                self.index.set_threshold(after["name"], float(after["max_cost"]))
            return
        entry_id = change["entry_id"]
        if change["action"] == "delete":
            if entry_id in self.index:
                self.index.remove(entry_id)
            self._validity.pop(entry_id, None)
            return
        try:
            self.index.add(index_entry(after))
        except ValueError as err:
            log.error("watchlist entry %d not matched: %s", entry_id, err)
            return
        bounds = (_time(after.get("valid_from")), _time(after.get("valid_until")))
        if bounds == (None, None):
            self._validity.pop(entry_id, None)
        else:
            self._validity[entry_id] = bounds

    def match(self, plate_norm: str, at: datetime) -> list[Match]:
        """Entries in force at ``at`` that the read hits, best first (see :meth:`WatchlistIndex.match`)."""
        if not plate_norm:
            return []
        matches = self.index.match(plate_norm)
        if self._validity and matches:
            validity = self._validity
            matches = [m for m in matches if m.entry.id not in validity or valid_at(*validity[m.entry.id], at)]
        return matches

    # lists --------------------------------------------------------------------------------------
    async def lists(self) -> list[dict[str, Any]]:
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(f"SELECT {LIST_COLUMNS}, (SELECT count(*) FROM watchlist_entries e"
                              " WHERE e.list_name = w.name) AS entries FROM watchlists w ORDER BY name")
            return await cur.fetchall()

    async def get_list(self, name: str) -> dict[str, Any]:
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(f"SELECT {LIST_COLUMNS}, (SELECT count(*) FROM watchlist_entries e"
                              " WHERE e.list_name = w.name) AS entries FROM watchlists w WHERE name = %s", (name,))
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no watchlist named {name!r}")
        return row

    async def create_list(self, name: str, max_cost: float | None = None, description: str = "",
                          actor: str = "") -> dict[str, Any]:
        async with self.store.pool.connection() as conn:
            try:
                async with conn.transaction():
                    await set_actor(conn, actor)
                    await conn.execute("INSERT INTO watchlists (name, max_cost, description, created_by)"
                                       " VALUES (%s, %s, %s, %s)",
                                       (name, self.default_max_cost if max_cost is None else max_cost, description, actor))
            except errors.UniqueViolation:
                raise Conflict(f"watchlist {name!r} already exists") from None
        await self.sync()
        return await self.get_list(name)

    async def update_list(self, name: str, max_cost: float | None = None, description: str | None = None,
                          actor: str = "") -> dict[str, Any]:
        async with self.store.pool.connection() as conn:
            async with conn.transaction():
                await set_actor(conn, actor)
                cur = await conn.execute("UPDATE watchlists SET max_cost = coalesce(%s, max_cost),"
                                         " description = coalesce(%s, description) WHERE name = %s",
                                         (max_cost, description, name))
                if cur.rowcount == 0:
                    raise NotFound(f"no watchlist named {name!r}")
        await self.sync()
        return await self.get_list(name)

    async def delete_list(self, name: str, actor: str = "") -> None:
        async with self.store.pool.connection() as conn:
            async with conn.transaction():
                await set_actor(conn, actor)
                cur = await conn.execute("SELECT count(*) FROM watchlist_entries WHERE list_name = %s", (name,))
                count = (await cur.fetchone())[0]
                if count:
                    raise Conflict(f"watchlist {name!r} still has {count} entries: remove them first")
                cur = await conn.execute("DELETE FROM watchlists WHERE name = %s", (name,))
                if cur.rowcount == 0:
                    raise NotFound(f"no watchlist named {name!r}")
        await self.sync()

    async def _ensure_lists(self, conn: AsyncConnection, names: set[str], actor: str) -> None:
        """Lists named by new entries are created with the default threshold (each creation logged)."""
        for name in sorted(names):
            await conn.execute("INSERT INTO watchlists (name, max_cost, created_by) VALUES (%s, %s, %s)"
                               " ON CONFLICT (name) DO NOTHING", (name, self.default_max_cost, actor))

    # entries ------------------------------------------------------------------------------------
    async def add_entry(self, fields: Mapping[str, Any], actor: str = "") -> dict[str, Any]:
        """Insert a validated entry (:func:`lapi.watchlists.parse_entry`)."""
        async with self.store.pool.connection() as conn:
            try:
                async with conn.transaction():
                    await set_actor(conn, actor)
                    await self._ensure_lists(conn, {fields["list_name"]}, actor)
                    cols = ", ".join(_EDITABLE)
                    cur = conn.cursor(row_factory=dict_row)
                    await cur.execute(
                        f"INSERT INTO watchlist_entries ({cols}, created_by, updated_by)"
                        f" VALUES ({', '.join(['%s'] * len(_EDITABLE))}, %s, %s) RETURNING {ENTRY_COLUMNS}",
                        (*(fields[k] for k in _EDITABLE), actor, actor))
                    row = await cur.fetchone()
            except errors.UniqueViolation:
                raise Conflict(f"{fields['plate_norm']} is already on list {fields['list_name']!r}") from None
        await self.sync()
        return row

    async def update_entry(self, entry_id: int, fields: Mapping[str, Any], actor: str = "") -> dict[str, Any]:
        """Change some fields of an entry (validated with ``parse_entry(partial=True)``)."""
        changes = {k: v for k, v in fields.items() if k in _EDITABLE}
        async with self.store.pool.connection() as conn:
            try:
                async with conn.transaction():
                    await set_actor(conn, actor)
                    if "list_name" in changes:
                        await self._ensure_lists(conn, {changes["list_name"]}, actor)
                    sets = "".join(f"{k} = %s, " for k in changes)
                    cur = conn.cursor(row_factory=dict_row)
                    await cur.execute(f"UPDATE watchlist_entries SET {sets}updated_at = now(), updated_by = %s"
                                      f" WHERE id = %s RETURNING {ENTRY_COLUMNS}", (*changes.values(), actor, entry_id))
                    row = await cur.fetchone()
                    if row is None:
                        raise NotFound(f"no watchlist entry with id {entry_id}")
            except errors.UniqueViolation:
                raise Conflict("another entry of that list has the same pattern") from None
            except errors.CheckViolation:
                raise ValueError("valid_until: must be after valid_from") from None
        await self.sync()
        return row

    async def remove_entry(self, entry_id: int, actor: str = "") -> None:
        async with self.store.pool.connection() as conn:
            async with conn.transaction():
                await set_actor(conn, actor)
                cur = await conn.execute("DELETE FROM watchlist_entries WHERE id = %s", (entry_id,))
                if cur.rowcount == 0:
                    raise NotFound(f"no watchlist entry with id {entry_id}")
        await self.sync()

    async def get_entry(self, entry_id: int) -> dict[str, Any]:
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(f"SELECT {ENTRY_COLUMNS} FROM watchlist_entries WHERE id = %s", (entry_id,))
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no watchlist entry with id {entry_id}")
        return row

    async def entries(self, list_name: str | None = None) -> list[dict[str, Any]]:
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(f"SELECT {ENTRY_COLUMNS} FROM watchlist_entries"
                              " WHERE %s::text IS NULL OR list_name = %s ORDER BY id", (list_name, list_name))
            return await cur.fetchall()

    async def import_entries(self, rows: list[Mapping[str, Any]], actor: str = "") -> tuple[int, int]:
        """Insert validated rows in one transaction (COPY, then one INSERT); returns (inserted,
        already present).  A (list, pattern) already listed is left as it is."""
        cols = ", ".join(_EDITABLE)
        async with self.store.pool.connection() as conn:
            async with conn.transaction():
                await set_actor(conn, actor)
                await self._ensure_lists(conn, {r["list_name"] for r in rows}, actor)
                await conn.execute(
                    "CREATE TEMP TABLE watchlist_import (ord integer, list_name text, plate_norm text, plate_text text,"
                    " category text, legal_purpose text, reason text, priority smallint, valid_from timestamptz,"
                    " valid_until timestamptz, note text, source text) ON COMMIT DROP")
                async with conn.cursor().copy(f"COPY watchlist_import (ord, {cols}) FROM STDIN") as copy:
                    for i, r in enumerate(rows):
                        await copy.write_row([i, *(r[k] for k in _EDITABLE)])
                cur = await conn.execute(
                    f"INSERT INTO watchlist_entries ({cols}, created_by, updated_by)"
                    f" SELECT {cols}, %s, %s FROM (SELECT DISTINCT ON (list_name, plate_norm) * FROM watchlist_import"
                    " ORDER BY list_name, plate_norm, ord) first_rows ORDER BY ord"
                    " ON CONFLICT (list_name, plate_norm) DO NOTHING", (actor, actor))
                inserted = cur.rowcount
        await self.sync()
        return inserted, len(rows) - inserted

    async def changes(self, list_name: str | None = None, entry_id: int | None = None, limit: int = 100,
                      before_id: int | None = None) -> list[dict[str, Any]]:
        """The change log, newest first."""
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT id, changed_at, changed_by, entity, action, list_name, entry_id, before, after"
                " FROM watchlist_changes WHERE (%(list)s::text IS NULL OR list_name = %(list)s)"
                " AND (%(entry)s::bigint IS NULL OR entry_id = %(entry)s)"
                " AND (%(before)s::bigint IS NULL OR id < %(before)s) ORDER BY id DESC LIMIT %(limit)s",
                {"list": list_name, "entry": entry_id, "before": before_id, "limit": limit})
            return await cur.fetchall()
