"""API tokens in the store: made, listed, revoked, and looked up by hash for every request.

Lookups are cached for a few seconds (every request needs one); a revocation made through this
object clears the cache at once, one made by another process (``lapi token revoke``) takes effect
within :attr:`TokenStore.cache_s`.  The cache is bounded: a flood of made-up tokens cannot grow it
without limit.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

from lapi.auth import Principal, check_grant, check_principal_name, new_token, plausible_token, token_hash
from lapi.store.errors import NotFound

if TYPE_CHECKING:
    from lapi.store.db import Store

CACHE_MAX = 10_000
_COLUMNS = ("id, principal, role, habilitation, note, created_at, created_by, expires_at, revoked_at, revoked_by")


class TokenStore:
    def __init__(self, store: Store, cache_s: float = 5.0) -> None:
        self.store = store
        self.cache_s = cache_s
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}

    async def create(self, principal: str, role: str, habilitation: str = "", expires_in: timedelta | None = None,
                     note: str = "", created_by: str = "") -> tuple[str, dict[str, Any]]:
        """Make a token; returns (secret, row).  The secret is not kept anywhere: show it once."""
        principal = check_principal_name(principal)
        role, habilitation = check_grant(role, habilitation)
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValueError("expires: must be in the future")
        secret = new_token()
        expires_at = datetime.now(timezone.utc) + expires_in if expires_in is not None else None
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"INSERT INTO api_tokens (token_hash, principal, role, habilitation, note, created_by, expires_at)"
                f" VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (token_hash(secret), principal, role, habilitation, note[:500], created_by, expires_at))
            return secret, await cur.fetchone()

    async def revoke(self, token_id: int, revoked_by: str = "") -> dict[str, Any]:
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()),"
                f" revoked_by = coalesce(revoked_by, %s) WHERE id = %s RETURNING {_COLUMNS}", (revoked_by, token_id))
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no token with id {token_id}")
        self._cache.clear()
        return row

    async def list(self, include_inactive: bool = False) -> list[dict[str, Any]]:
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_COLUMNS}, (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) AS active"
                " FROM api_tokens WHERE %s OR (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))"
                " ORDER BY id", (include_inactive,))
            return await cur.fetchall()

    async def has_active_admin(self) -> bool:
        async with self.store.pool.connection() as conn:
            cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM api_tokens WHERE role = 'admin'"
                                     " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))")
            return bool((await cur.fetchone())[0])

    async def authenticate(self, token: str) -> Principal | None:
        """The principal of a valid (not revoked, not expired) token, else None."""
        if not plausible_token(token):
            return None
        digest = token_hash(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, principal, role, habilitation FROM api_tokens WHERE token_hash = %s"
                " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())", (digest,))
            row = await cur.fetchone()
        principal = Principal(*row) if row is not None else None
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (now + self.cache_s, principal)
        return principal
