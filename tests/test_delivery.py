"""Alert delivery (issue 7) against real things: PostgreSQL outbox, a real aiohttp webhook receiver
checking the HMAC, the Mosquitto broker at 127.0.0.1:1883, a restart between hit and delivery."""

import asyncio
import json
import socket
import uuid
from datetime import datetime, timezone

import aiomqtt
from aiohttp import web

from lapi.alerts import AlertFilter, AlertHub
from lapi.cameras import Camera
from lapi.delivery.dispatcher import OutboxDispatcher, delivery_states
from lapi.delivery.feed import AlertFeed, AlertSubscription
from lapi.delivery.mqtt import MqttDestination, MqttSettings, category_topic
from lapi.delivery.retry import RetryPolicy
from lapi.delivery.webhook import (ALERT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookDestination,
                                   WebhookSettings, sign, verify)
from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead
from lapi.store.db import Store
from lapi.watchlists import parse_entry

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
SECRET = "s3cret-for-tests-only"
FAST = RetryPolicy(max_attempts=5, base_s=0.05, max_s=0.2)


def plate_read(norm: str) -> PlateRead:
    return PlateRead(norm, norm, 0.9, (0.9,) * len(norm), Detection(10, 20, 120, 30, 0.88), b"\xff\xd8jpeg")


async def hit(store: Store, plate: str = "AB123CD") -> dict:
    stored = await store.store_reads("cam-1", T0, [plate_read(plate)])
    return stored[0].hits[0].alert


async def wait_until(predicate, timeout: float = 15.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = await predicate()
        if value or loop.time() > end:
            return value
        await asyncio.sleep(0.05)


# --- pure parts ---------------------------------------------------------------------------------

def test_retry_delay_doubles_with_jitter_and_caps():
    p = RetryPolicy(max_attempts=4, base_s=2, max_s=10)
    assert [p.delay(n, rand=lambda: 0.0) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 5, 5]
    assert [p.delay(n, rand=lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]
    delays = {p.delay(3) for _ in range(50)}
    assert len(delays) > 40 and all(4 <= d <= 8 for d in delays)  # jittered within the window
    assert not p.exhausted(3) and p.exhausted(4)


def test_signature_over_timestamp_and_body():
    body = b'{"alert_id":1}'
    signature = sign(SECRET, 1763600000, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify(SECRET, "1763600000", body, signature, now=1763600010)
    assert not verify(SECRET, "1763600000", body + b" ", signature, now=1763600010)
    assert not verify("other", "1763600000", body, signature, now=1763600010)
    assert not verify(SECRET, "1763600001", body, signature, now=1763600010)  # timestamp is signed too
    assert not verify(SECRET, "1763600000", body, signature, now=1763600000 + 3600)  # too old: replay


def test_category_topics_cannot_inject_wildcards():
    assert category_topic("lapi/alerts", "stolen") == "lapi/alerts/stolen"
    assert category_topic("lapi/alerts/", "stolen car/#+") == "lapi/alerts/stolen_car"
    assert category_topic("lapi/alerts", "") == "lapi/alerts/uncategorised"


def test_alert_filter():
    alert = {"type": "hit", "list": "douane", "category": "stolen", "camera_id": "cam-1", "priority": 3}
    assert AlertFilter().accepts(alert) and AlertFilter().accepts({"type": "beacon_silent"})
    assert AlertFilter.of(lists=["douane", "x"], cameras=["cam-1"]).accepts(alert)
    assert not AlertFilter.of(lists=["x"]).accepts(alert)
    assert not AlertFilter.of(categories=["drugs"]).accepts(alert)
    assert not AlertFilter.of(min_priority=4).accepts(alert)
    assert not AlertFilter.of(lists=["douane"]).accepts({"type": "beacon_silent"})


# --- webhooks ---------------------------------------------------------------------------------

class Receiver:
    """A real HTTP webhook receiver that checks the signature and fails the first ``fail_first`` posts."""

    def __init__(self, fail_first: int = 0, always_fail: bool = False) -> None:
        self.fail_first = fail_first
        self.always_fail = always_fail
        self.posts: list[dict] = []       # every well-signed post, in order
        self.accepted: list[dict] = []    # the ones answered 2xx
        self.bad_signatures = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(SECRET, request.headers[TIMESTAMP_HEADER], body, request.headers[SIGNATURE_HEADER]):
            self.bad_signatures += 1
            return web.Response(status=401)
        alert = json.loads(body)
        assert request.headers[ALERT_ID_HEADER] == str(alert["alert_id"])
        self.posts.append(alert)
        if self.always_fail or len(self.posts) <= self.fail_first:
            return web.Response(status=500, text="receiver down for maintenance")
        self.accepted.append(alert)
        return web.Response(status=204)

    async def start(self, port: int = 0) -> "Receiver":
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"
        return self

    async def stop(self) -> None:
        await self.runner.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_webhook_retries_then_delivers_and_dead_letters(store):
    await store.watchlists.add_entry(parse_entry({"plate": "AB123CD", "list": "douane", "category": "stolen"}))
    await store.watchlists.add_entry(parse_entry({"plate": "EF456GH", "list": "local"}))
    flaky = await Receiver(fail_first=2).start()
    broken = await Receiver(always_fail=True).start()
    dispatcher = OutboxDispatcher(store, [
        WebhookDestination(WebhookSettings("ops", flaky.url, SECRET, AlertFilter.of(lists=["douane"]), retry=FAST)),
        WebhookDestination(WebhookSettings("archive", broken.url, SECRET, retry=RetryPolicy(3, 0.05, 0.1)))],
        poll_s=0.2)
    await dispatcher.start()
    try:
        wanted = await hit(store, "AB123CD")
        await hit(store, "EF456GH")  # another list: not for "ops"
        assert await wait_until(lambda: _async(len(flaky.accepted) == 1))
        dead = await wait_until(lambda: _rows_if(delivery_states(store, "webhook:archive", "dead"), 2))
        assert len(dead) == 2 and all(d["attempts"] == 3 and "HTTP 500" in d["last_error"] for d in dead)
        assert len(broken.posts) == 6
        assert flaky.accepted == [wanted] and [p["alert_id"] for p in flaky.posts] == [wanted["alert_id"]] * 3
        assert flaky.bad_signatures == broken.bad_signatures == 0
        # the endpoint has the post before the worker commits "delivered": wait for the commit
        (state,) = await wait_until(lambda: _rows_if(delivery_states(store, "webhook:ops", "delivered"), 1)) or [{}]
        assert (state.get("state"), state.get("attempts"), state.get("last_error")) == ("delivered", 3, None)
        await asyncio.sleep(0.5)
        assert len(flaky.posts) == 3 and len(broken.posts) == 6  # nothing more once delivered or dead
        async with store.pool.connection() as conn:  # the delivery is on record as a disclosure; the dead are not
            cur = await conn.execute("SELECT principal, action, result_count, parameters FROM audit_log")
            assert await cur.fetchall() == [("webhook:ops", "disclosure", 1, {"alert_ids": [wanted["alert_id"]] * 2})]
    finally:
        await dispatcher.stop()
        await flaky.stop()
        await broken.stop()


async def _async(value):
    return value


async def _rows_if(query, count: int):
    rows = await query
    return rows if len(rows) >= count else None


async def test_restart_between_hit_and_delivery_loses_nothing(database_url):
    """Hit stored while the receiver is down and the dispatcher then stopped; a new process delivers it."""
    port = free_port()
    settings = WebhookSettings("ops", f"http://127.0.0.1:{port}/hook", SECRET, retry=FAST)
    first = Store(database_url)
    await first.open()
    await first.upsert_camera(Camera("cam-1"))
    await first.watchlists.add_entry(parse_entry({"plate": "AB123CD"}))
    dispatcher = OutboxDispatcher(first, [WebhookDestination(settings)], poll_s=0.1)
    await dispatcher.start()
    tried = await hit(first)  # the receiver is not listening yet: attempts fail
    assert await wait_until(lambda: _attempted(first, tried["alert_id"]))
    await dispatcher.stop()
    untried = await hit(first, "A8123CD")  # stored while no dispatcher runs at all
    await first.close()

    receiver = await Receiver().start(port)
    second = Store(database_url)
    await second.open()
    dispatcher = OutboxDispatcher(second, [WebhookDestination(settings)], poll_s=0.1)
    await dispatcher.start()
    try:
        assert await wait_until(lambda: _async(len(receiver.accepted) == 2))
        assert sorted(a["alert_id"] for a in receiver.accepted) == [tried["alert_id"], untried["alert_id"]]
        assert {a["plate_norm"] for a in receiver.accepted} == {"AB123CD", "A8123CD"}
        # the endpoint has the post before the worker commits "delivered": wait for the commits
        states = await wait_until(lambda: _rows_if(delivery_states(second, "webhook:ops", "delivered"), 2)) or []
        assert len(states) == 2 and len(await delivery_states(second)) == 2
    finally:
        await dispatcher.stop()
        await second.close()
        await receiver.stop()


async def _attempted(store: Store, alert_id: int) -> bool:
    return any(s["alert_id"] == alert_id and s["attempts"] >= 1 and s["last_error"]
               for s in await delivery_states(store))


# --- MQTT -----------------------------------------------------------------------------------

async def test_mqtt_publishes_each_alert_on_its_category_topic(store):
    prefix = f"lapi-test-{uuid.uuid4().hex[:8]}/alerts"
    await store.watchlists.add_entry(parse_entry({"plate": "AB123CD", "category": "stolen car"}))
    await store.watchlists.add_entry(parse_entry({"plate": "EF456GH", "category": "drugs"}))
    dispatcher = OutboxDispatcher(store, [MqttDestination(MqttSettings(topic_prefix=prefix, retry=FAST))], poll_s=0.2)
    async with aiomqtt.Client("127.0.0.1", 1883) as sub:
        await sub.subscribe(f"{prefix}/#", qos=1)
        await dispatcher.start()
        try:
            first = await hit(store, "AB123CD")
            second = await hit(store, "EF456GH")
            got = []
            async with asyncio.timeout(15):
                async for message in sub.messages:
                    got.append((str(message.topic), json.loads(message.payload)))
                    if len(got) == 2:
                        break
            delivered = await wait_until(lambda: _all_delivered(store, "mqtt:broker", 2))
        finally:
            await dispatcher.stop()
    assert sorted(got, key=lambda t: t[1]["alert_id"]) == [(f"{prefix}/stolen_car", first), (f"{prefix}/drugs", second)]
    assert delivered  # marked so only once the broker acknowledged (QoS 1)


async def _all_delivered(store: Store, destination: str, count: int) -> bool:
    states = await delivery_states(store, destination)
    return len(states) == count and {s["state"] for s in states} == {"delivered"}


async def test_mqtt_broker_unreachable_is_retried_not_lost(store):
    await store.watchlists.add_entry(parse_entry({"plate": "AB123CD"}))
    dest = MqttDestination(MqttSettings(port=free_port(), timeout_s=1, retry=RetryPolicy(2, 0.05, 0.1)))
    dispatcher = OutboxDispatcher(store, [dest], poll_s=0.1)
    await dispatcher.start()
    try:
        await hit(store)
        (dead,) = await wait_until(lambda: delivery_states(store, state="dead"))
        assert dead["attempts"] == 2 and "MQTT 127.0.0.1" in dead["last_error"]
    finally:
        await dispatcher.stop()


# --- live feed seam -----------------------------------------------------------------------------

async def test_resume_has_no_gap_and_no_duplicate_at_the_seam(store):
    await store.watchlists.add_entry(parse_entry({"plate": "AB123CD", "list": "douane"}))
    await store.watchlists.add_entry(parse_entry({"plate": "EF456GH", "list": "local"}))
    hub = AlertHub()
    feed = AlertFeed(store, hub, poll_s=0.2)
    await feed.start()
    try:
        before = [await hit(store, "AB123CD") for _ in range(5)]
        resume_from = before[1]["alert_id"]
        assert await wait_until(lambda: _async(feed.last_id == before[-1]["alert_id"]))  # all published live

        async def writer() -> None:  # hits keep committing, concurrently, while the consumer resumes
            await asyncio.gather(*(hit(store, "AB123CD" if i % 3 else "EF456GH") for i in range(30)))

        received = []
        with AlertSubscription(hub, store, AlertFilter.of(lists=["douane"]), after=resume_from) as sub:
            task = asyncio.create_task(writer())
            while True:
                try:
                    received.append(await sub.next(timeout=2))
                except TimeoutError:
                    break
            await task
        expected = [a for a in await store.alerts_after(resume_from) if a["list"] == "douane"]
        assert [a["alert_id"] for a in received] == [a["alert_id"] for a in expected]
        assert len(expected) == 3 + 20
    finally:
        await feed.stop()


async def test_feed_interleaves_another_process_alerts_in_id_order(database_url, store):
    """Alerts committed by a second process reach this one's feed by LISTEN/NOTIFY, in id order,
    between this process's own (published from memory while they follow on without a gap)."""
    await store.watchlists.add_entry(parse_entry({"plate": "AB123CD"}))
    here = Store(database_url, listen=True)
    await here.open()
    hub = AlertHub()
    feed = AlertFeed(here, hub, poll_s=60)  # no poll within the test: only notifications and own commits
    await feed.start()
    try:
        await asyncio.wait_for(here._listener.listening.wait(), 10)
        with AlertSubscription(hub, here, AlertFilter()) as sub:
            mine_first = await hit(here)
            theirs = await hit(store)  # the other process (another Store, its own pool)
            mine_then = await hit(here)
            got = [await sub.next(timeout=10) for _ in range(3)]
        assert [a["alert_id"] for a in got] == [mine_first["alert_id"], theirs["alert_id"], mine_then["alert_id"]]
        assert got[1] == theirs
    finally:
        await feed.stop()
        await here.close()
