"""Watchlist, hit and alert routes over real HTTP (issue 7): CRUD with history, CSV export, hit
decisions, WebSocket and SSE feeds that resume from an alert id, 4xx for bad input."""

import asyncio
import json
from datetime import datetime, timezone

import aiohttp

from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


def plate_read(norm: str) -> PlateRead:
    return PlateRead(norm, norm, 0.9, (0.9,) * len(norm), Detection(10, 20, 120, 30, 0.88), b"\xff\xd8crop")


async def hit(store, plate: str) -> dict:
    return (await store.store_reads("cam-1", T0, [plate_read(plate)]))[0].hits[0].alert


async def test_export_file_name_is_safe_in_its_header(service):
    """The list's name reaches Content-Disposition: a DEL in it used to drop the connection unanswered."""
    async with aiohttp.ClientSession(headers=service.auth()) as http:
        async with http.get(f"{service}/v1/watchlist/export?list=douane") as r:
            assert r.status == 200 and r.headers["Content-Disposition"] == 'attachment; filename="watchlist-douane.csv"'
        async with http.get(f"{service}/v1/watchlist/export", params={"list": "Calais-été"}) as r:
            assert r.status == 200
            assert r.headers["Content-Disposition"] == ("attachment; filename=\"watchlist-Calais-_t_.csv\"; "
                                                        "filename*=UTF-8''watchlist-Calais-%C3%A9t%C3%A9.csv")
        for name in ("\x7fE#=#", "a\x85b"):
            async with http.get(f"{service}/v1/watchlist/export", params={"list": name}) as r:
                assert r.status == 400 and "printable" in await r.text()


async def test_watchlists_entries_export_and_history(service):
    alice, bob, carol = [await service.user(name, "supervisor") for name in ("alice", "bob", "carol")]
    async with aiohttp.ClientSession(headers=service.auth()) as http:
        async with http.post(f"{service}/v1/watchlists", headers=alice,
                             json={"name": "douane", "max_cost": 0.5, "description": "customs"}) as r:
            assert r.status == 201, await r.text()
            assert (await r.json())["max_cost"] == 0.5
        async with http.post(f"{service}/v1/watchlists", json={"name": "douane"}) as r:
            assert r.status == 409
        entry = {"plate": "AB-1??-CD", "list": "douane", "category": "stolen", "legal_purpose": "art. 78-2 CPP",
                 "reason": "PV 2026/0042", "priority": 4, "valid_from": "2026-11-01T00:00:00Z",
                 "valid_until": "2027-01-01T00:00:00+01:00", "note": "partial plate", "source": "SIS II"}
        async with http.post(f"{service}/v1/watchlist", json=entry, headers=alice) as r:
            assert r.status == 201, await r.text()
            created = await r.json()
        assert created["plate_norm"] == "AB1??CD" and created["kind"] == "wildcard" and created["created_by"] == "alice"
        assert created["valid_until"] == "2026-12-31T23:00:00+00:00"
        async with http.patch(f"{service}/v1/watchlist/{created['id']}", json={"note": "seen at Calais"}, headers=bob) as r:
            assert r.status == 200 and (await r.json())["note"] == "seen at Calais"
        async with http.patch(f"{service}/v1/watchlists/douane", json={"max_cost": 1.2}, headers=alice) as r:
            assert r.status == 200 and (await r.json())["max_cost"] == 1.2
        async with http.get(f"{service}/v1/watchlist/export?list=douane") as r:
            assert r.status == 200 and r.content_type == "text/csv"
            csv_text = await r.text()
        assert csv_text.splitlines()[1] == ("AB-1??-CD,douane,stolen,art. 78-2 CPP,PV 2026/0042,4,2026-11-01T00:00:00+00:00,"
                                            "2026-12-31T23:00:00+00:00,seen at Calais,SIS II")
        async with http.post(f"{service}/v1/watchlist/import?list=copy", data=csv_text.replace(",douane,", ",,").encode(),
                             headers={"Content-Type": "text/csv", **alice}) as r:
            assert r.status == 201 and (await r.json())["inserted"] == 1
        async with http.delete(f"{service}/v1/watchlist/{created['id']}", headers=carol) as r:
            assert r.status == 204
        async with http.get(f"{service}/v1/watchlist/changes", params={"entry_id": created["id"]}) as r:
            changes = (await r.json())["changes"]
        assert [(c["action"], c["changed_by"]) for c in changes] == [("delete", "carol"), ("update", "bob"),
                                                                     ("insert", "alice")]
        assert changes[1]["before"]["note"] == "partial plate" and changes[1]["after"]["note"] == "seen at Calais"
        async with http.get(f"{service}/v1/watchlist/changes", params={"list": "douane"}) as r:
            kinds = [(c["entity"], c["action"]) for c in (await r.json())["changes"]]
        assert ("list", "update") in kinds and kinds[-1] == ("list", "insert")
        async with http.get(f"{service}/v1/watchlists") as r:
            lists = {w["name"]: w for w in (await r.json())["watchlists"]}
        assert lists["douane"]["entries"] == 0 and lists["copy"]["entries"] == 1 and lists["copy"]["max_cost"] == 0.8
        async with http.delete(f"{service}/v1/watchlists/copy") as r:
            assert r.status == 409 and "still has 1 entries" in (await r.json())["error"]["message"]
        async with http.delete(f"{service}/v1/watchlists/douane") as r:
            assert r.status == 204


async def test_hits_are_confirmed_or_rejected_with_who_and_why(service, store):
    alice, bob = await service.user("alice"), await service.user("bob")
    async with aiohttp.ClientSession(headers=service.auth()) as http:
        async with http.post(f"{service}/v1/watchlist", json={"plate": "AB-123-CD", "list": "douane"}) as r:
            assert r.status == 201
        first, second = await hit(store, "A8I23CD"), await hit(store, "AB123CD")
        async with http.get(f"{service}/v1/hits", params={"status": "new", "list": "douane"}) as r:
            hits = (await r.json())["hits"]
        assert [h["id"] for h in hits] == [second["hit_id"], first["hit_id"]]
        assert hits[1]["match_type"] == "lookalike" and hits[1]["cost"] == 0.4 and hits[1]["plate_text"] == "A8I23CD"
        assert hits[1]["alert_id"] == first["alert_id"] and hits[1]["read_confidence"] > 0.89
        async with http.get(f"{service}{hits[1]['crop_url']}") as r:
            assert r.status == 200 and await r.read() == b"\xff\xd8crop"
        url = f"{service}/v1/hits/{first['hit_id']}"
        async with http.post(f"{url}/confirm", json={"reason": "crop shows AB-123-CD", "by": "alice"}, headers=bob) as r:
            assert r.status == 400 and "by: not accepted" in (await r.json())["error"]["message"]
        async with http.post(f"{url}/confirm", json={"reason": "crop shows AB-123-CD"}, headers=alice) as r:
            assert r.status == 200
            decided = await r.json()
        assert (decided["status"], decided["decided_by"], decided["decision_reason"]) == ("confirmed", "alice",
                                                                                          "crop shows AB-123-CD")
        async with http.post(f"{url}/reject", json={"reason": "changed my mind"}, headers=bob) as r:
            assert r.status == 409 and "already confirmed by alice" in (await r.json())["error"]["message"]
        async with http.post(f"{service}/v1/hits/{second['hit_id']}/reject", json={"reason": "trailer plate"}, headers=bob) as r:
            assert r.status == 200 and (await r.json())["status"] == "rejected"
        async with http.get(f"{service}/v1/hits?status=new") as r:
            assert (await r.json())["hits"] == []


async def ws_alerts(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[dict]:
    out = []
    while len(out) < n:
        msg = json.loads((await ws.receive(timeout=10)).data)
        if msg["type"] != "hello":
            out.append(msg)
    return out


async def test_websocket_resumes_after_an_alert_id(service, store):
    await store.watchlists.create_list("douane")
    async with aiohttp.ClientSession(headers=service.auth()) as http:
        for plate, lst in (("AB123CD", "douane"), ("EF456GH", "local")):
            async with http.post(f"{service}/v1/watchlist", json={"plate": plate, "list": lst}) as r:
                assert r.status == 201
        old = [await hit(store, "AB123CD") for _ in range(3)]
        ws_url = service.replace("http", "ws", 1) + "/v1/alerts/ws"
        async with http.ws_connect(f"{ws_url}?list=douane&after={old[0]['alert_id']}") as ws:
            hello = json.loads((await ws.receive(timeout=5)).data)
            assert hello["type"] == "hello" and hello["resumed_after"] == old[0]["alert_id"]
            assert await ws_alerts(ws, 2) == old[1:]  # the backlog
            await hit(store, "EF456GH")  # another list: filtered out
            live = await hit(store, "AB123CD")
            assert await ws_alerts(ws, 1) == [live]
        missed = [await hit(store, "AB123CD") for _ in range(2)]  # while disconnected
        async with http.ws_connect(f"{ws_url}?list=douane&after={live['alert_id']}") as ws:
            got = await ws_alerts(ws, 2)
            later = await hit(store, "AB123CD")
            got += await ws_alerts(ws, 1)
            try:  # and nothing more: no duplicate of the backlog among the live ones
                extra = await ws.receive(timeout=0.5)
            except asyncio.TimeoutError:
                extra = None
            assert extra is None, extra
        assert got == [*missed, later]


async def sse_events(resp: aiohttp.ClientResponse, n: int) -> list[tuple[str, str, dict]]:
    """(id, event, data) of the next n events."""
    events, fields = [], {}
    while len(events) < n:
        line = (await asyncio.wait_for(resp.content.readline(), 10)).decode().rstrip("\n")
        if not line:
            if "data" in fields:
                events.append((fields.get("id", ""), fields.get("event", ""), json.loads(fields["data"])))
            fields = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            fields[key] = value
    return events


async def test_sse_resumes_with_last_event_id(service, store):
    async with aiohttp.ClientSession(headers=service.auth()) as http:
        async with http.post(f"{service}/v1/watchlist", json={"plate": "AB123CD", "category": "stolen"}) as r:
            assert r.status == 201
        first = await hit(store, "AB123CD")
        async with http.get(f"{service}/v1/alerts/sse?category=stolen&after=0") as resp:
            assert resp.status == 200 and resp.content_type == "text/event-stream"
            (event,) = await sse_events(resp, 1)
            assert event == (str(first["alert_id"]), "hit", first)
            second = await hit(store, "A8123CD")
            assert await sse_events(resp, 1) == [(str(second["alert_id"]), "hit", second)]
        third = await hit(store, "AB123CD")
        async with http.get(f"{service}/v1/alerts/sse", headers={"Last-Event-ID": str(second["alert_id"])}) as resp:
            assert await sse_events(resp, 1) == [(str(third["alert_id"]), "hit", third)]
        async with http.get(f"{service}/v1/alerts", params={"after": first["alert_id"]}) as r:
            body = await r.json()
        assert body["alerts"] == [second, third] and body["last_alert_id"] == third["alert_id"]


async def test_bad_watchlist_and_alert_input_gets_4xx(service, store):
    js = {"Content-Type": "application/json"}
    cases = [
        ("POST", "/v1/watchlist", b'{"plate": "*"}', js, 400, "only wildcards"),
        ("POST", "/v1/watchlist", b'{"plate": "A?"}', js, 400, "known character"),
        ("POST", "/v1/watchlist", b'{"plate": "AB123CD", "colour": "red"}', js, 400, "colour: unknown field"),
        ("POST", "/v1/watchlist", b'{"plate": "AB123CD", "valid_from": "tomorrow"}', js, 400, "valid_from"),
        ("POST", "/v1/watchlist", b'{"plate": "AB123CD", "valid_from": "2026-11-02T00:00Z", '
                                  b'"valid_until": "2026-11-01T00:00Z"}', js, 400, "valid_until"),
        ("POST", "/v1/watchlist", b'{"plate": "AB123CD", "list": "' + b"x" * 101 + b'"}', js, 400, "list"),
        ("POST", "/v1/watchlist", b'[1]', js, 400, "JSON object"),
        ("PATCH", "/v1/watchlist/999999", b'{"note": "x"}', js, 404, "999999"),
        ("PATCH", "/v1/watchlist/1", b'{}', js, 400, "no field"),
        ("GET", "/v1/watchlist/abc", b"", {}, 400, "integer"),
        ("POST", "/v1/watchlists", b'{"name": "x", "max_cost": 3}', js, 400, "max_cost"),
        ("POST", "/v1/watchlists", b'{"name": "x", "max_cost": "high"}', js, 400, "max_cost"),
        ("POST", "/v1/watchlists", b'{"max_cost": 1}', js, 400, "name"),
        ("PATCH", "/v1/watchlists/ghost", b'{"max_cost": 1}', js, 404, "ghost"),
        ("DELETE", "/v1/watchlists/ghost", b"", {}, 404, "ghost"),
        ("POST", "/v1/watchlist/import", b"plate,colour\nAB123CD,red\n", {"Content-Type": "text/csv"}, 400, "colour"),
        ("GET", "/v1/watchlist/changes?limit=0", b"", {}, 400, "limit"),
        ("GET", "/v1/hits?status=maybe", b"", {}, 400, "status"),
        ("GET", "/v1/hits/77", b"", {}, 404, "77"),
        ("POST", "/v1/hits/77/confirm", b'{"reason": "x"}', js, 404, "77"),
        ("POST", "/v1/hits/1/confirm", b'{"by": "a"}', js, 400, "reason"),
        ("POST", "/v1/hits/1/reject", b'{"reason": "x", "by": "a", "extra": 1}', js, 400, "extra"),
        ("POST", "/v1/hits/1/reject", b'reason=x', {"Content-Type": "text/plain"}, 415, "application/json"),
        ("GET", "/v1/alerts/sse?after=-1", b"", {}, 400, "after"),
        ("GET", "/v1/alerts/ws?min_priority=9", b"", {}, 400, "min_priority"),
        ("GET", "/v1/alerts/sse", b"", {"Last-Event-ID": "abc"}, 400, "Last-Event-ID"),
        ("GET", "/v1/alerts/deliveries?state=lost", b"", {}, 400, "state"),
    ]
    async with aiohttp.ClientSession(headers=service.auth()) as http:
        for method, path, data, headers, status, message in cases:
            async with http.request(method, f"{service}{path}", data=data, headers=headers) as r:
                text = await r.text()
                assert r.status == status, (path, r.status, text)
                assert message in json.loads(text)["error"]["message"], (path, text)
        async with http.get(f"{service}/v1/health") as r:
            assert r.status == 200


async def lapi_cli(*args: str) -> tuple[int, str]:
    import sys

    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "lapi.cli", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()


async def test_cli_watchlists_entries_and_hit_decisions(service, store):
    url = ["--url", service]
    alice, bob, carol = [["--token", await service.token(name, "supervisor")] for name in ("alice", "bob", "carol")]
    admin = ["--token", service.auth()["Authorization"].split()[1]]
    code, out = await lapi_cli("watchlists", "create", "douane", "--max-cost", "0.5", *alice, *url)
    assert code == 0 and json.loads(out)["max_cost"] == 0.5
    code, out = await lapi_cli("watch", "add", "AB-1??-CD", "--list", "douane", "--category", "stolen",
                               "--valid-until", "2027-01-01T00:00:00Z", *alice, *url)
    assert code == 0, out
    entry = json.loads(out)
    code, out = await lapi_cli("watch", "update", str(entry["id"]), "--note", "seen twice", *bob, *url)
    assert code == 0 and json.loads(out)["note"] == "seen twice"
    code, out = await lapi_cli("watch", "export", "--list", "douane", *admin, *url)
    assert code == 0 and out.splitlines()[1].startswith("AB-1??-CD,douane,stolen,")
    code, out = await lapi_cli("watch", "history", "--entry", str(entry["id"]), *admin, *url)
    assert [c["changed_by"] for c in json.loads(out)["changes"]] == ["bob", "alice"]
    alert = await hit(store, "AB199CD")
    code, out = await lapi_cli("hits", "list", "--status", "new", *admin, *url)
    assert [h["id"] for h in json.loads(out)["hits"]] == [alert["hit_id"]]
    code, out = await lapi_cli("hits", "confirm", str(alert["hit_id"]), "--reason", "crop checked", *url)
    assert code == 1 and "401" in out and "authentication required" in out
    code, out = await lapi_cli("hits", "reject", str(alert["hit_id"]), "--reason", "other plate", *carol, *url)
    assert code == 0 and json.loads(out)["status"] == "rejected"
    code, out = await lapi_cli("watch", "add", "*", *admin, *url)
    assert code == 1 and "only wildcards" in out
