"""The audit log (issue 8): append-only for the service role and for the owner, a row for every
consultation, export, alteration and disclosure with who/why/parameters/count and never the data,
GET /v1/audit for supervisors, no answer when the row cannot be written."""

import json
import uuid
from datetime import datetime, timezone

import aiohttp
import psycopg
import pytest

from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


def plate_read(norm: str) -> PlateRead:
    return PlateRead(norm, norm, 0.9, (0.9,) * len(norm), Detection(10, 20, 120, 30, 0.88), b"\xff\xd8crop")


async def audit_rows(store, **where) -> list[dict]:
    from psycopg.rows import dict_row

    async with store.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT * FROM audit_log ORDER BY id")
        rows = await cur.fetchall()
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


async def test_the_audit_log_cannot_be_altered_by_the_owner_or_the_service_role(store, database_url):
    async with store.pool.connection() as conn:
        await conn.execute("INSERT INTO audit_log (principal, role, action, operation) VALUES ('x', 'analyst',"
                           " 'consultation', 'GET /v1/hits')")
    role = f"lapi_audit_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        # the owner (here a superuser, whom privileges do not bind): the triggers refuse
        for sql in ("UPDATE audit_log SET principal = 'y'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(psycopg.errors.RaiseException, match="audit_log is append-only"):
                conn.execute(sql)
        # the service role: the table made over to a plain role keeps the migration's REVOKE
        conn.execute(f"CREATE ROLE {role}")
        try:
            conn.execute(f"ALTER TABLE audit_log OWNER TO {role}")
            conn.execute(f"SET ROLE {role}")
            for sql in ("UPDATE audit_log SET principal = 'y'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(sql)
            conn.execute("INSERT INTO audit_log (principal, role, action, operation) VALUES"
                         " ('z', 'analyst', 'consultation', 'GET /v1/hits')")
            assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 2
        finally:
            conn.execute("RESET ROLE")
            conn.execute("ALTER TABLE audit_log OWNER TO CURRENT_USER")
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


async def test_consultations_exports_alterations_and_disclosures_are_logged_without_the_data(service, store):
    dupont = await service.user("dupont")  # analyst, habilitation HAB-TEST-1
    consumer = service.auth("consumer")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{service}/v1/watchlist", headers=dupont, json={"plate": "AB-123-CD", "reason": "PV 1"}) as r:
            entry = await r.json()
        ws = await http.ws_connect(service.replace("http", "ws", 1) + "/v1/alerts/ws", headers=consumer)
        await ws.receive(timeout=5)  # hello
        hit = (await store.store_reads("cam-1", T0, [plate_read("AB123CD")]))[0].hits[0].alert
        await store.store_reads("cam-1", T0, [plate_read("ZZ999ZZ")])  # a read matching nothing
        while json.loads((await ws.receive(timeout=10)).data).get("alert_id") != hit["alert_id"]:
            pass
        await ws.close()
        calls = [
            ("GET", "/v1/vehicles/AB-123-CD/sightings", {"from": "2026-11-19T00:00:00Z", "procedure": "PV 2026/77"}),
            ("GET", "/v1/hits", {"status": "new"}),
            ("GET", f"/v1/reads/{hit['read_id']}/crop", {}),
            ("GET", "/v1/watchlist", {}),
            ("GET", "/v1/watchlist/export", {}),
        ]
        for method, path, params in calls:
            async with http.request(method, f"{service}{path}", params=params, headers=dupont) as r:
                assert r.status == 200, (path, await r.text())
        async with http.post(f"{service}/v1/hits/{hit['hit_id']}/confirm", json={"reason": "crop shows it"},
                             headers=dupont) as r:
            assert r.status == 200
        async with http.get(f"{service}/v1/alerts", params={"after": 0}, headers=consumer) as r:
            assert len((await r.json())["alerts"]) == 1
        async with http.get(f"{service}/v1/vehicles/---/sightings", headers=dupont) as r:
            assert r.status == 400  # refused calls leave no row (nothing was consulted)
    rows = await audit_rows(store)
    mine = [r for r in rows if r["principal"] == "dupont"]
    assert [(r["action"], r["operation"]) for r in mine] == [
        ("alteration", "POST /v1/watchlist"),
        ("consultation", "GET /v1/vehicles/{plate}/sightings"),
        ("consultation", "GET /v1/hits"),
        ("consultation", "GET /v1/reads/{read_id}/crop"),
        ("consultation", "GET /v1/watchlist"),
        ("export", "GET /v1/watchlist/export"),
        ("alteration", "POST /v1/hits/{hit_id}/confirm"),
    ]
    assert all(r["role"] == "analyst" and r["habilitation"] == "HAB-TEST-1" and r["status"] == 200 for r in mine[1:])
    sightings = mine[1]
    assert sightings["justification"] == "PV 2026/77" and sightings["result_count"] == 1
    assert sightings["parameters"] == {"path": {"plate": "AB-123-CD"}, "query": {"from": "2026-11-19T00:00:00Z"}}
    assert mine[0]["parameters"]["entry_id"] == entry["id"] and mine[2]["result_count"] == 1
    assert mine[6]["parameters"] == {"path": {"hit_id": str(hit["hit_id"])}, "decision": "confirmed"}
    # never the data: no result's plate, text or reason in any row, except a plate that was the query
    for r in rows:
        text = json.dumps(r, default=str)
        assert "ZZ999ZZ" not in text and "crop shows it" not in text and "PV 1" not in text
        if r["operation"] != "GET /v1/vehicles/{plate}/sightings":
            assert "AB123CD" not in text and "AB-123-CD" not in text, r
    disclosed = [r for r in rows if r["action"] == "disclosure"]
    assert {(r["principal"], r["operation"], r["result_count"]) for r in disclosed} == {
        ("test-consumer", "GET /v1/alerts/ws", 1), ("test-consumer", "GET /v1/alerts", 1)}
    assert all(r["parameters"]["alert_ids"] == [hit["alert_id"]] * 2 for r in disclosed)


async def test_audit_endpoint_filters_and_is_for_supervisors(service, store):
    dupont = await service.user("dupont")
    async with aiohttp.ClientSession() as http:
        for procedure in ("PV-1", "PV-2", "PV-2"):
            async with http.get(f"{service}/v1/hits", params={"procedure": procedure}, headers=dupont) as r:
                assert r.status == 200
        async with http.get(f"{service}/v1/audit", headers=dupont) as r:
            assert r.status == 403
        sup = service.auth("supervisor")
        async with http.get(f"{service}/v1/audit", params={"principal": "dupont", "justification": "PV-2"},
                            headers=sup) as r:
            entries = (await r.json())["entries"]
        assert [(e["principal"], e["justification"], e["operation"]) for e in entries] == [
            ("dupont", "PV-2", "GET /v1/hits")] * 2 and entries[0]["id"] > entries[1]["id"]
        async with http.get(f"{service}/v1/audit", params={"action": "consultation", "limit": 2,
                                                            "operation": "audit"}, headers=sup) as r:
            body = await r.json()
        assert [e["operation"] for e in body["entries"]] == ["GET /v1/audit"] and body["next_before"] is None
        for params, message in (({"action": "peek"}, "action"), ({"limit": "0"}, "limit"),
                                ({"from": "yesterday"}, "from"), ({"principal": "a\x00b"}, "principal")):
            async with http.get(f"{service}/v1/audit", params=params, headers=sup) as r:
                assert r.status == 400 and message in (await r.json())["error"]["message"]


async def test_no_answer_without_its_audit_row(service, store):
    await store.store_reads("cam-1", T0, [plate_read("AB123CD")])
    async with store.pool.connection() as conn:
        await conn.execute("ALTER TABLE audit_log RENAME TO audit_log_away")
    try:
        async with aiohttp.ClientSession(headers=service.auth("analyst")) as http:
            async with http.get(f"{service}/v1/vehicles/AB123CD/sightings", params={"procedure": "PV-9"}) as r:
                assert r.status == 503
                text = await r.text()
        assert "audit log" in text and "AB123CD" not in text
    finally:
        async with store.pool.connection() as conn:
            await conn.execute("ALTER TABLE audit_log_away RENAME TO audit_log")
