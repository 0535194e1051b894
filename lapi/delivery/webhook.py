"""Webhook delivery: an alert POSTed as JSON, signed so the receiver can trust and date it.

Signature: ``X-LAPI-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with
``X-LAPI-Timestamp: <Unix seconds>``.  Signing the timestamp with the body lets a receiver refuse
replays older than a few minutes; ``X-LAPI-Alert-Id`` lets it drop the duplicates that
at-least-once delivery can bring.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from lapi.alerts import AlertFilter
from lapi.delivery.retry import RetryPolicy

SIGNATURE_HEADER = "X-LAPI-Signature"
TIMESTAMP_HEADER = "X-LAPI-Timestamp"
ALERT_ID_HEADER = "X-LAPI-Alert-Id"


class DeliveryError(Exception):
    """One attempt failed; the message is kept as the delivery's last error."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None,
           tolerance_s: int = 300) -> bool:
    """What a receiver does: signature matches and the timestamp is recent."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


@dataclass(frozen=True)
class WebhookSettings:
    name: str
    url: str
    secret: str
    filter: AlertFilter = field(default_factory=AlertFilter)
    timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class WebhookDestination:
    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self.name = f"webhook:{settings.name}"
        self.filter = settings.filter
        self.retry = settings.retry
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, alert: dict[str, Any]) -> None:
        assert self._session is not None, "start() first"
        body = json.dumps(alert, separators=(",", ":"), ensure_ascii=False).encode()
        ts = int(time.time())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(ts),
                   SIGNATURE_HEADER: sign(self.settings.secret, ts, body), ALERT_ID_HEADER: str(alert["alert_id"])}
        try:
            async with self._session.post(self.settings.url, data=body, headers=headers) as resp:
                if not 200 <= resp.status < 300:
                    text = (await resp.text(errors="replace"))[:200]
                    raise DeliveryError(f"HTTP {resp.status}: {text}")
        except (aiohttp.ClientError, TimeoutError) as err:
            raise DeliveryError(f"{type(err).__name__}: {err}") from None
