"""Authentication and roles (issue 8): every route declares its roles, tokens are stored hashed,
401 without or with a bad token, 403 with the wrong role, tokens on the alert feeds, `lapi token`."""

import asyncio
import hashlib
import json
import sys

import aiohttp
import pytest
from aiohttp import web

from lapi.api.access import access_of, allow, undeclared_routes
from lapi.api.app import INGEST, create_app, create_osmand_app
from lapi.config import TrackerSettings
from lapi.store.tokens import TokenStore


async def forgotten(request: web.Request) -> web.Response:
    return web.json_response({"secret": 1})


def test_every_route_declares_its_roles(store):
    app = create_app(store, None)  # type: ignore[arg-type]
    assert len(list(app.router.routes())) > 40
    assert undeclared_routes(app) == []
    osmand = create_osmand_app(app[INGEST], TrackerSettings())
    assert undeclared_routes(osmand) == []
    app.router.add_get("/v1/forgotten", forgotten)
    assert sorted(undeclared_routes(app)) == ["GET /v1/forgotten", "HEAD /v1/forgotten"]


def test_declarations_are_checked():
    with pytest.raises(ValueError):
        allow("root")
    with pytest.raises(ValueError):
        allow("analyst", audit="peek")
    handler = allow("camera")(lambda request: None)
    assert access_of(handler).roles == {"camera", "admin"}


async def test_an_undeclared_route_is_refused_to_everyone(store):
    from conftest import serve_app

    app = create_app(store, None)  # type: ignore[arg-type]
    app.router.add_get("/v1/forgotten", forgotten)
    url, runner = await serve_app(app, store)
    try:
        async with aiohttp.ClientSession(headers=url.auth("admin")) as http:
            async with http.get(f"{url}/v1/forgotten") as r:
                assert r.status == 403 and "declares no roles" in (await r.json())["error"]["message"]
    finally:
        await runner.cleanup()


async def error(r: aiohttp.ClientResponse) -> str:
    assert r.content_type == "application/json"
    return (await r.json())["error"]["message"]


async def test_no_token_or_bad_token_is_401_wrong_role_403(service, fixture_frame):
    body, _ = fixture_frame
    jpeg = {"Content-Type": "image/jpeg"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{service}/v1/vehicles/AB123CD/sightings") as r:
            assert r.status == 401 and "authentication required" in await error(r)
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
        for bad in ("Bearer lapi_" + "x" * 43, "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer "):
            async with http.get(f"{service}/v1/hits", headers={"Authorization": bad}) as r:
                assert r.status == 401, bad
        async with http.get(f"{service}/v1/hits", headers={"Authorization": "Bearer lapi_" + "x" * 43}) as r:
            assert "invalid, expired or revoked" in await error(r)
        # a query token is only taken by the feeds
        token = service.auth("analyst")["Authorization"].split()[1]
        async with http.get(f"{service}/v1/hits", params={"token": token}) as r:
            assert r.status == 401
        cases = [  # (role, method, path, allowed)
            ("camera", "GET", "/v1/vehicles/AB123CD/sightings", False),
            ("camera", "GET", "/v1/hits", False),
            ("camera", "GET", "/v1/alerts", False),
            ("analyst", "POST", "/v1/frames?camera_id=cam-1", False),
            ("beacon", "POST", "/v1/frames?camera_id=cam-1", False),
            ("consumer", "GET", "/v1/hits", False),
            ("consumer", "GET", "/v1/vehicles/AB123CD/route", False),
            ("consumer", "GET", "/v1/watchlist", False),
            ("analyst", "POST", "/v1/pings", False),
            ("analyst", "GET", "/v1/alerts/deliveries", False),
            ("analyst", "POST", "/v1/watchlists", False),
            ("supervisor", "POST", "/v1/cameras", False),
            ("camera", "POST", "/v1/frames?camera_id=cam-1", True),
            ("analyst", "GET", "/v1/hits", True),
            ("consumer", "GET", "/v1/alerts", True),
            ("supervisor", "GET", "/v1/alerts/deliveries", True),
            ("admin", "GET", "/v1/hits", True),
            ("admin", "POST", "/v1/frames?camera_id=cam-1", True),
        ]
        for role, method, path, allowed in cases:
            async with http.request(method, f"{service}{path}", headers={**service.auth(role), **jpeg},
                                    data=body if method == "POST" else None) as r:
                if allowed:
                    assert r.status < 400, (role, path, r.status, await r.text())
                else:
                    assert r.status == 403, (role, path, r.status)
                    assert f"role {role!r} may not" in await error(r) and "needs" in await error(r)
        for path in ("/v1/health", "/v1/openapi.json"):
            async with http.get(f"{service}{path}") as r:
                assert r.status == 200, path


async def test_feeds_take_the_token_in_a_header_or_the_query(service):
    ws_url = service.replace("http", "ws", 1) + "/v1/alerts/ws"
    consumer = service.auth("consumer")
    token = consumer["Authorization"].split()[1]
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(ws_url)
        assert refused.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(ws_url, headers=service.auth("camera"))
        assert refused.value.status == 403
        for kwargs in ({"headers": consumer}, {"params": {"token": token}}):
            async with http.ws_connect(ws_url, **kwargs) as ws:
                assert json.loads((await ws.receive(timeout=5)).data)["type"] == "hello"
        async with http.get(f"{service}/v1/alerts/sse") as r:
            assert r.status == 401
        async with http.get(f"{service}/v1/alerts/sse", params={"token": token}) as r:
            assert r.status == 200 and r.content_type == "text/event-stream"


async def test_tokens_are_stored_hashed_and_revocation_takes_effect(store, service):
    tokens = TokenStore(store)
    secret, row = await tokens.create("dupont", "analyst", "HAB-2026-0042", note="brigade A")
    assert secret.startswith("lapi_") and len(secret) >= 45
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT token_hash, to_jsonb(t)::text FROM api_tokens t WHERE id = %s", (row["id"],))
        digest, everything = await cur.fetchone()
    assert bytes(digest) == hashlib.sha256(secret.encode()).digest() and secret not in everything
    assert (await tokens.authenticate(secret)).name == "dupont"
    await tokens.revoke(row["id"], "admin")
    assert await tokens.authenticate(secret) is None  # the revoking process forgets it at once
    with pytest.raises(ValueError, match="habilitation: required"):
        await tokens.create("martin", "supervisor")
    with pytest.raises(ValueError, match="role: must be one of"):
        await tokens.create("martin", "root")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{service}/v1/hits", headers={"Authorization": f"Bearer {secret}"}) as r:
            assert r.status == 401


async def test_expired_token_is_refused(store):
    from datetime import timedelta

    tokens = TokenStore(store)
    secret, row = await tokens.create("cam-7", "camera", expires_in=timedelta(days=1))
    assert (await tokens.authenticate(secret)).role == "camera"
    async with store.pool.connection() as conn:
        await conn.execute("UPDATE api_tokens SET created_at = now() - interval '2 days',"
                           " expires_at = now() - interval '1 second' WHERE id = %s", (row["id"],))
    assert await TokenStore(store).authenticate(secret) is None


async def lapi(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "lapi.cli", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def test_token_cli_create_list_revoke(service, database_url):
    db = ["--database-url", database_url]
    code, out, err = await lapi("token", "create", "--role", "supervisor", "--principal", "Cne Martin",
                                "--habilitation", "arrêté 2026-117", "--days", "30", *db)
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("lapi_") and "shown once" in err
    made = json.loads(err[:err.index("# the token")])
    assert made["role"] == "supervisor" and made["habilitation"] == "arrêté 2026-117" and made["expires_at"]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {secret}"}) as http:
        async with http.get(f"{service}/v1/alerts/deliveries") as r:
            assert r.status == 200
    code, out, _ = await lapi("token", "list", *db)
    listed = [json.loads(line) for line in out.splitlines()]
    assert made["id"] in [t["id"] for t in listed] and secret not in out
    code, out, err = await lapi("token", "create", "--role", "analyst", "--principal", "x", *db)
    assert code == 2 and "habilitation: required" in err
    # a second, never used token: revoked by the CLI, refused by the running service at once
    code, out, err = await lapi("token", "create", "--role", "admin", "--principal", "ops", *db)
    other, other_id = out.strip(), json.loads(err[:err.index("# the token")])["id"]
    code, out, err = await lapi("token", "revoke", str(other_id), *db)
    assert code == 0 and json.loads(out)["revoked_at"]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {other}"}) as http:
        async with http.get(f"{service}/v1/hits") as r:
            assert r.status == 401
    code, out, _ = await lapi("token", "list", "--all", *db)
    assert any(json.loads(line)["id"] == other_id and not json.loads(line)["active"] for line in out.splitlines())
    code, _, err = await lapi("token", "revoke", "999999", *db)
    assert code == 1 and "no token with id 999999" in err
