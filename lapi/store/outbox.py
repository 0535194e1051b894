"""Alerts that are not watchlist hits (approach to the coast, zone entry/exit, co-travel) into the
durable outbox, so they reach the live feeds, webhooks and MQTT with the same guarantees as hits:
a stable alert id, at-least-once delivery across restarts, resume from the last id.

The row is written under the outbox's advisory lock (alert ids commit in increasing order) with
no hit: ``list_name`` and ``camera_id`` are empty, ``category`` is the alert's type, so a consumer
filters them by category (``?category=approach,zone_enter``) and MQTT publishes them on
``<prefix>/<type>``.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from lapi.store.db import Store, alert_message
from lapi.store.frames import ALERT_LOCK


async def enqueue_alert(store: Store, payload: dict[str, Any], *, priority: int = 1,
                        list_name: str = "", camera_id: str = "") -> dict[str, Any]:
    """Commit ``payload`` (which carries its ``type``) as an outbox alert; returns it with its ``alert_id``."""
    kind = payload.get("type")
    if not kind or kind == "hit":
        raise ValueError("enqueue_alert: payload needs a 'type' other than 'hit' (hits are written with their read)")
    async with store.pool.connection() as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s), pg_notify('lapi_alerts', %s)",
                               (ALERT_LOCK, store.notify_token))
            cur = await conn.execute(
                "INSERT INTO alert_outbox (list_name, category, camera_id, priority, payload)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING id", (list_name, kind, camera_id, priority, Jsonb(payload)))
            alert_id = (await cur.fetchone())[0]
    alert = alert_message(alert_id, payload)
    store._alerts_committed([alert])
    return alert
