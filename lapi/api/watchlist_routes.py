"""HTTP routes of watchlists, hits and alerts (issue 7), added to the app by :func:`add_routes`.

Who made a change or a decision is the principal of the request's API token (lapi/api/access.py).
"""

from __future__ import annotations

import asyncio
import csv
from typing import Any

from aiohttp import WSMsgType, web

from lapi import __version__
from lapi.alerts import AlertFilter
from lapi.api.access import ANALYSTS, allow, principal_of
from lapi.api.audit import Disclosures, counted
from lapi.api.download import attachment
from lapi.api.app import HUB, STORE, _json_body, bounded_body
from lapi.api.jsonout import dumps
from lapi.api.params import query_int, query_names
from lapi.delivery.dispatcher import delivery_states
from lapi.delivery.feed import AlertFeed, AlertSubscription, FeedClosed
from lapi.store.db import HIT_STATUSES
from lapi.watchlists import parse_entry, parse_list_name, parse_max_cost, parse_watchlist_csv, watchlist_csv

FEED = web.AppKey("alert_feed", AlertFeed)
FEED_POLL_S = web.AppKey("alert_feed_poll_s", float)  # set by the service from alerts.poll_interval_s
KEEPALIVE_S = 15.0


# input helpers -----------------------------------------------------------------------------------

def _actor(request: web.Request, body: Any = None) -> str:
    """Who makes a change or a decision: the authenticated principal, never a name the client
    chooses (a ``by`` field is refused rather than silently ignored)."""
    if isinstance(body, dict) and "by" in body:
        raise web.HTTPBadRequest(text="by: not accepted: changes and decisions are recorded under the "
                                      "principal of the request's token")
    return principal_of(request).name


def _path_id(request: web.Request, name: str, what: str) -> int:
    try:
        value = int(request.match_info[name])
    except ValueError:
        raise web.HTTPBadRequest(text=f"{what} id must be an integer") from None
    if not 0 < value < 2 ** 63:
        raise web.HTTPBadRequest(text=f"{what} id must be a positive integer")
    return value


def _object_body(body: Any) -> dict:
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


def _entry_fields(body: dict, partial: bool) -> dict[str, Any]:
    fields = {k: v for k, v in body.items() if k != "by"}
    try:
        return parse_entry(fields, partial=partial)
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err)) from None


def _list_query(request: web.Request) -> str | None:
    raw = request.query.get("list")
    if not raw:
        return None
    try:
        return parse_list_name(raw)
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err)) from None


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


# watchlists ------------------------------------------------------------------------------------

@allow(*ANALYSTS, audit="consultation")
async def list_watchlists(request: web.Request) -> web.Response:
    rows = await request.app[STORE].watchlists.lists()
    counted(request, len(rows))
    return _json({"watchlists": rows})


@allow("supervisor", audit="alteration")
async def create_watchlist(request: web.Request) -> web.Response:
    body = _object_body(await _json_body(request))
    for key in body:
        if key not in ("name", "max_cost", "description", "by"):
            raise web.HTTPBadRequest(text=f"{key}: unknown field (known: name, max_cost, description)")
    try:
        name = parse_list_name(body.get("name"), "name")
        max_cost = parse_max_cost(body["max_cost"]) if body.get("max_cost") is not None else None
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err)) from None
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        raise web.HTTPBadRequest(text="description: must be a string of at most 2000 characters")
    row = await request.app[STORE].watchlists.create_list(name, max_cost, description, _actor(request, body))
    return _json(row, 201)


@allow(*ANALYSTS, audit="consultation")
async def get_watchlist(request: web.Request) -> web.Response:
    row = await request.app[STORE].watchlists.get_list(request.match_info["name"])
    counted(request, 1)
    return _json(row)


@allow("supervisor", audit="alteration")
async def patch_watchlist(request: web.Request) -> web.Response:
    body = _object_body(await _json_body(request))
    for key in body:
        if key not in ("max_cost", "description", "by"):
            raise web.HTTPBadRequest(text=f"{key}: unknown field (known: max_cost, description)")
    try:
        max_cost = parse_max_cost(body["max_cost"]) if "max_cost" in body else None
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err)) from None
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 2000):
        raise web.HTTPBadRequest(text="description: must be a string of at most 2000 characters")
    row = await request.app[STORE].watchlists.update_list(request.match_info["name"], max_cost, description,
                                                          _actor(request, body))
    return _json(row)


@allow("supervisor", audit="alteration")
async def delete_watchlist(request: web.Request) -> web.Response:
    await request.app[STORE].watchlists.delete_list(request.match_info["name"], _actor(request))
    return web.Response(status=204)


# entries ---------------------------------------------------------------------------------------

@allow(*ANALYSTS, audit="consultation")
async def list_entries(request: web.Request) -> web.Response:
    rows = await request.app[STORE].watchlists.entries(_list_query(request))
    counted(request, len(rows))
    return _json({"entries": rows})


@allow(*ANALYSTS, audit="alteration")
async def add_entry(request: web.Request) -> web.Response:
    body = _object_body(await _json_body(request))
    row = await request.app[STORE].watchlists.add_entry(_entry_fields(body, partial=False), _actor(request, body))
    from lapi.api.investigation_routes import retroactive_after_add

    row["retroactive_hits"] = await retroactive_after_add(request, row["id"])  # past reads it hits (issue 12)
    counted(request, 1, entry_id=row["id"], retroactive_hits=row["retroactive_hits"])
    return _json(row, 201)


@allow(*ANALYSTS, audit="consultation")
async def get_entry(request: web.Request) -> web.Response:
    row = await request.app[STORE].watchlists.get_entry(_path_id(request, "entry_id", "entry"))
    counted(request, 1)
    return _json(row)


@allow(*ANALYSTS, audit="alteration")
async def patch_entry(request: web.Request) -> web.Response:
    entry_id = _path_id(request, "entry_id", "entry")
    body = _object_body(await _json_body(request))
    fields = _entry_fields(body, partial=True)
    if not fields:
        raise web.HTTPBadRequest(text="body names no field to change")
    store = request.app[STORE].watchlists
    if ("valid_from" in fields) != ("valid_until" in fields):  # check the pair against the stored half
        current = await store.get_entry(entry_id)
        start, end = fields.get("valid_from", current["valid_from"]), fields.get("valid_until", current["valid_until"])
        if start is not None and end is not None and end <= start:
            raise web.HTTPBadRequest(text="valid_until: must be after valid_from")
    try:
        row = await store.update_entry(entry_id, fields, _actor(request, body))
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err)) from None
    return _json(row)


@allow(*ANALYSTS, audit="alteration")
async def delete_entry(request: web.Request) -> web.Response:
    await request.app[STORE].watchlists.remove_entry(_path_id(request, "entry_id", "entry"), _actor(request))
    return web.Response(status=204)


@allow(*ANALYSTS, audit="alteration")
async def import_entries(request: web.Request) -> web.Response:
    if request.content_type not in ("text/csv", "text/plain"):
        raise web.HTTPUnsupportedMediaType(text=f"Content-Type must be text/csv, got {request.content_type!r}")
    try:
        text = (await bounded_body(request)).decode("utf-8-sig")
        rows = parse_watchlist_csv(text, _list_query(request) or "default")
    except UnicodeDecodeError:
        raise web.HTTPBadRequest(text="CSV must be UTF-8") from None
    except (ValueError, csv.Error) as err:
        raise web.HTTPBadRequest(text=f"CSV: {str(err)[:300]}") from None
    inserted, existing = await request.app[STORE].watchlists.import_entries(rows, _actor(request))
    counted(request, inserted)
    return _json({"rows": len(rows), "inserted": inserted, "already_present": existing}, 201)


@allow(*ANALYSTS, audit="export")
async def export_entries(request: web.Request) -> web.Response:
    list_name = _list_query(request)
    rows = await request.app[STORE].watchlists.entries(list_name)
    counted(request, len(rows), format="csv")
    text = watchlist_csv(rows)
    return web.Response(text=text, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": attachment(f"watchlist-{list_name or 'all'}.csv")})


@allow(*ANALYSTS, audit="consultation")
async def watchlist_changes(request: web.Request) -> web.Response:
    rows = await request.app[STORE].watchlists.changes(
        _list_query(request), query_int(request, "entry_id", None, 1, 2 ** 63 - 1),
        query_int(request, "limit", 100, 1, 10000), query_int(request, "before", None, 1, 2 ** 63 - 1))
    counted(request, len(rows))
    return _json({"changes": rows})


# hits -------------------------------------------------------------------------------------------

@allow(*ANALYSTS, audit="consultation")
async def list_hits(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    if status is not None and status not in HIT_STATUSES:
        raise web.HTTPBadRequest(text=f"status: must be one of {', '.join(HIT_STATUSES)}, got {status!r}")
    rows = await request.app[STORE].hits(status, _list_query(request), query_int(request, "limit", 100, 1, 10000),
                                         query_int(request, "before", None, 1, 2 ** 63 - 1))
    counted(request, len(rows))
    return _json({"hits": [_with_crop(r) for r in rows]})


def _with_crop(hit: dict[str, Any]) -> dict[str, Any]:
    return {**hit, "crop_url": f"/v1/reads/{hit['read_id']}/crop"}


@allow(*ANALYSTS, audit="consultation")
async def get_hit(request: web.Request) -> web.Response:
    hit = await request.app[STORE].get_hit(_path_id(request, "hit_id", "hit"))
    counted(request, 1)
    return _json(_with_crop(hit))


@allow(*ANALYSTS, audit="alteration")
async def confirm_hit(request: web.Request) -> web.Response:
    return await _decide_hit(request, "confirmed")


@allow(*ANALYSTS, audit="alteration")
async def reject_hit(request: web.Request) -> web.Response:
    return await _decide_hit(request, "rejected")


async def _decide_hit(request: web.Request, status: str) -> web.Response:
    hit_id = _path_id(request, "hit_id", "hit")
    body = _object_body(await _json_body(request))
    for key in body:
        if key not in ("reason", "by"):
            raise web.HTTPBadRequest(text=f"{key}: unknown field (known: reason, by)")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000:
        raise web.HTTPBadRequest(text="reason: required, a string of 1-2000 characters (why the hit is "
                                      f"{status}, e.g. what the crop shows)")
    who = _actor(request, body)
    hit = await request.app[STORE].decide_hit(hit_id, status, who, reason.strip())
    counted(request, 1, decision=status)
    return _json(_with_crop(hit))


# alerts -----------------------------------------------------------------------------------------

def feed_params(request: web.Request) -> tuple[AlertFilter, int | None]:
    """Filter (``list``, ``category``, ``camera``: repeated or comma-separated; ``min_priority``) and
    the alert id to resume after (``after``, else the SSE ``Last-Event-ID`` header; none: live only)."""
    flt = AlertFilter.of(query_names(request, "list"), query_names(request, "category"), query_names(request, "camera"),
                         query_int(request, "min_priority", 1, 1, 5))
    after = query_int(request, "after", None, 0, 2 ** 63 - 1)
    if after is None and request.headers.get("Last-Event-ID"):
        raw = request.headers["Last-Event-ID"]
        if not raw.isdigit():
            raise web.HTTPBadRequest(text=f"Last-Event-ID: must be an alert id, got {raw!r}")
        after = int(raw)
    return flt, after


@allow("consumer", *ANALYSTS, audit="disclosure")
async def list_alerts(request: web.Request) -> web.Response:
    """Outbox alerts after an id, oldest first: for consumers that poll instead of streaming."""
    flt, after = feed_params(request)
    rows = await request.app[STORE].alerts_after(after or 0, flt, query_int(request, "limit", 100, 1, 1000))
    counted(request, len(rows), alert_ids=[rows[0]["alert_id"], rows[-1]["alert_id"]] if rows else [])
    return _json({"alerts": rows, "last_alert_id": rows[-1]["alert_id"] if rows else after})


@allow("consumer", *ANALYSTS, query_token=True)
async def alerts_ws(request: web.Request) -> web.WebSocketResponse:
    """Live alerts, one JSON text message each, after a ``{"type": "hello"}``; with ``?after=<id>``
    first every alert missed since that id."""
    flt, after = feed_params(request)  # a bad parameter is a 400 before the upgrade
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    await ws.send_str(dumps({"type": "hello", "version": __version__, "resumed_after": after,
                              "last_alert_id": request.app[FEED].last_id}))

    async def drain_client() -> None:  # notice the client going away
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break

    reader = asyncio.create_task(drain_client())
    disclosed = Disclosures(request)
    try:
        with AlertSubscription(request.app[HUB], request.app[STORE], flt, after) as sub:
            while not ws.closed:
                getter = asyncio.ensure_future(sub.next())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                try:
                    alert = getter.result()
                except FeedClosed:
                    break
                try:
                    await ws.send_str(dumps(alert))
                except ConnectionResetError:
                    break  # the consumer went away; it resumes with ?after=
                await disclosed.sent(alert)
    finally:
        reader.cancel()
        await ws.close()
        await disclosed.flush()
    return ws


@allow("consumer", *ANALYSTS, query_token=True)
async def alerts_sse(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: ``id:`` is the alert id, so a reconnecting EventSource resumes by itself."""
    flt, after = feed_params(request)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    disclosed = Disclosures(request)
    try:
        await resp.write(b"retry: 2000\n\n")
        with AlertSubscription(request.app[HUB], request.app[STORE], flt, after) as sub:
            while True:
                try:
                    alert = await sub.next(timeout=KEEPALIVE_S)
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                except FeedClosed:
                    break
                head = f"id: {alert['alert_id']}\n" if alert.get("alert_id") is not None else ""
                event = alert.get("type", "alert")
                await resp.write(f"{head}event: {event}\ndata: {dumps(alert)}\n\n".encode())
                await disclosed.sent(alert)
    except (ConnectionResetError, ConnectionError):
        pass  # the consumer went away; it resumes with Last-Event-ID
    finally:
        await disclosed.flush()
    return resp


@allow("supervisor")
async def list_deliveries(request: web.Request) -> web.Response:
    state = request.query.get("state") or None
    if state is not None and state not in ("pending", "delivered", "dead"):
        raise web.HTTPBadRequest(text=f"state: must be pending, delivered or dead, got {state!r}")
    rows = await delivery_states(request.app[STORE], request.query.get("destination") or None, state,
                                 query_int(request, "limit", 100, 1, 10000))
    return _json({"deliveries": rows})


# registration -----------------------------------------------------------------------------------

def add_routes(app: web.Application, poll_s: float = 1.0) -> None:
    """Register the routes and run the outbox feed (live alerts, in id order) with the app."""

    async def start_feed(app: web.Application) -> None:
        app[FEED] = AlertFeed(app[STORE], app[HUB], app.get(FEED_POLL_S, poll_s))
        await app[FEED].start()

    async def stop_feed(app: web.Application) -> None:
        await app[FEED].stop()

    app.on_startup.append(start_feed)
    app.on_cleanup.append(stop_feed)
    r = app.router
    r.add_get("/v1/watchlists", list_watchlists)
    r.add_post("/v1/watchlists", create_watchlist)
    r.add_get("/v1/watchlists/{name}", get_watchlist)
    r.add_patch("/v1/watchlists/{name}", patch_watchlist)
    r.add_delete("/v1/watchlists/{name}", delete_watchlist)
    r.add_get("/v1/watchlist", list_entries)
    r.add_post("/v1/watchlist", add_entry)
    r.add_post("/v1/watchlist/import", import_entries)
    r.add_get("/v1/watchlist/export", export_entries)
    r.add_get("/v1/watchlist/changes", watchlist_changes)
    r.add_get("/v1/watchlist/{entry_id}", get_entry)
    r.add_patch("/v1/watchlist/{entry_id}", patch_entry)
    r.add_delete("/v1/watchlist/{entry_id}", delete_entry)
    r.add_get("/v1/hits", list_hits)
    r.add_get("/v1/hits/{hit_id}", get_hit)
    r.add_post("/v1/hits/{hit_id}/confirm", confirm_hit)
    r.add_post("/v1/hits/{hit_id}/reject", reject_hit)
    r.add_get("/v1/alerts", list_alerts)
    r.add_get("/v1/alerts/ws", alerts_ws)
    r.add_get("/v1/alerts/sse", alerts_sse)
    r.add_get("/v1/alerts/deliveries", list_deliveries)
