"""MQTT delivery: each alert published at QoS 1 on ``<topic_prefix>/<category>``.

A delivery counts as done when the broker acknowledged it (PUBACK), so a broker restart or a
lost connection means a retry, never a silent loss.  One connection is kept open and re-opened
on the next attempt after a failure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from lapi.alerts import AlertFilter
from lapi.delivery.retry import RetryPolicy
from lapi.delivery.webhook import DeliveryError

_NOT_TOPIC_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def category_topic(prefix: str, category: str) -> str:
    """``lapi/alerts`` + ``stolen car`` -> ``lapi/alerts/stolen_car``; wildcards and separators
    (``+ # /``) cannot leak from a category into the topic; no category -> ``uncategorised``."""
    level = _NOT_TOPIC_SAFE.sub("_", category.strip()).strip("_") or "uncategorised"
    return f"{prefix.rstrip('/')}/{level}"


@dataclass(frozen=True)
class MqttSettings:
    name: str = "broker"
    host: str = "127.0.0.1"
    port: int = 1883
    topic_prefix: str = "lapi/alerts"
    client_id: str | None = None  # None: one generated per connection (processes must not share one)
    username: str | None = None
    password: str | None = None
    timeout_s: float = 10.0
    filter: AlertFilter = field(default_factory=AlertFilter)
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class MqttDestination:
    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.name = f"mqtt:{settings.name}"
        self.filter = settings.filter
        self.retry = settings.retry
        self._client: aiomqtt.Client | None = None

    async def start(self) -> None:
        pass  # connected on the first delivery, so a broker down at start-up does not stop the service

    async def close(self) -> None:
        await self._disconnect()

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.__aexit__(None, None, None)
            except Exception:  # noqa: BLE001 - already broken
                pass

    async def _connected(self) -> aiomqtt.Client:
        if self._client is None:
            s = self.settings
            client = aiomqtt.Client(s.host, s.port, identifier=s.client_id, username=s.username,
                                    password=s.password, timeout=s.timeout_s)
            await client.__aenter__()
            self._client = client
        return self._client

    async def send(self, alert: dict[str, Any]) -> None:
        topic = category_topic(self.settings.topic_prefix, str(alert.get("category") or ""))
        payload = json.dumps(alert, separators=(",", ":"), ensure_ascii=False)
        try:
            client = await self._connected()
            await client.publish(topic, payload, qos=1, timeout=self.settings.timeout_s)
        except (aiomqtt.MqttError, OSError, TimeoutError) as err:
            await self._disconnect()
            raise DeliveryError(f"MQTT {self.settings.host}:{self.settings.port}: {type(err).__name__}: {err}") from None
