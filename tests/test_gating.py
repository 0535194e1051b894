"""Query gating (issue 8): without a procedure reference, queries return hit reads only and say so;
with one, every read, and the reference is in the audit log."""

from datetime import datetime, timedelta, timezone

import aiohttp

from lapi.api.gating import RESTRICTED, RESTRICTED_HEADER
from lapi.cameras import Camera
from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead

T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=6)
WINDOW = {"from": (T0 - timedelta(hours=1)).isoformat(), "to": (T0 + timedelta(hours=2)).isoformat()}


def plate_read(norm: str) -> PlateRead:
    return PlateRead(norm, norm, 0.9, (0.9,) * len(norm), Detection(10, 20, 120, 30, 0.88), b"\xff\xd8crop")


async def read(store, plate: str, at: datetime, camera: str = "cam-1"):
    return (await store.store_reads(camera, at, [plate_read(plate)]))[0]


async def test_queries_without_a_procedure_see_hit_reads_only(service, store):
    for i, (lat, lon) in enumerate(((50.90, 1.90), (50.80, 2.00), (50.70, 2.10)), start=2):
        await store.upsert_camera(Camera(id=f"cam-{i}", name="", lat=lat, lon=lon, heading=0.0, road="A26"))
    unseen = await read(store, "AB123CD", T0)  # before the plate was listed: a non-hit read
    await store.add_watch_entry("AB123CD", category="stolen")
    seen = [await read(store, "AB123CD", T0 + timedelta(minutes=20 * i), f"cam-{i + 2}") for i in range(3)]
    for i in range(3):  # an unlisted companion beside it at each camera: non-hit reads
        await read(store, "ZZ999ZZ", T0 + timedelta(minutes=20 * i, seconds=30), f"cam-{i + 2}")
    analyst = await service.user("dupont")
    pv = {"procedure": "PV 2026/77"}
    async with aiohttp.ClientSession(headers=analyst) as http:
        async def get(path: str, **params) -> tuple[int, dict, str | None]:
            async with http.get(f"{service}{path}", params={**WINDOW, **params}) as r:
                body = await r.json(content_type=None) if r.content_type != "image/jpeg" else {}
                return r.status, body, r.headers.get(RESTRICTED_HEADER)

        status, body, header = await get("/v1/vehicles/AB123CD/sightings")
        assert status == 200 and sorted(s["id"] for s in body["sightings"]) == sorted(s.id for s in seen)
        assert body["restricted"] == RESTRICTED == header
        status, body, header = await get("/v1/vehicles/AB123CD/sightings", **pv)
        assert len(body["sightings"]) == 4 and "restricted" not in body and header is None

        status, body, header = await get("/v1/vehicles/AB123CD/track")
        assert [p["read_id"] for p in body["points"]] == [s.id for s in seen] and header == RESTRICTED
        status, body, _ = await get("/v1/vehicles/AB123CD/track", **pv)
        assert [p["read_id"] for p in body["points"]] == [unseen.id] + [s.id for s in seen]

        status, body, header = await get("/v1/vehicles/AB123CD/route")
        assert status == 200 and body["observations"] == 3 and body["restricted"] == RESTRICTED == header
        status, body, header = await get("/v1/vehicles/AB123CD/route", **pv)
        assert body["observations"] == 4 and "restricted" not in body and header is None

        status, body, header = await get("/v1/vehicles/AB123CD/convoys", k="3", dt="60")
        assert status == 200 and body["candidates"] == [] and body["restricted"] == RESTRICTED
        status, body, _ = await get("/v1/vehicles/AB123CD/convoys", k="3", dt="60", **pv)
        assert [c["plate_norm"] for c in body["candidates"]] == ["ZZ999ZZ"]

        status, _, _ = await get(f"/v1/reads/{unseen.id}/crop")
        assert status == 403
        async with http.get(f"{service}/v1/reads/{unseen.id}/crop") as r:
            assert "not a hit read: give procedure=" in (await r.json())["error"]["message"]
        assert (await get(f"/v1/reads/{unseen.id}/crop", **pv))[0] == 200
        assert (await get(f"/v1/reads/{seen[0].id}/crop"))[0] == 200  # a hit read's crop needs no procedure

        for bad in ("x" * 201, "PV\x001", "  "):
            status, body, _ = await get("/v1/vehicles/AB123CD/sightings", procedure=bad)
            assert status == 400 and "procedure" in body["error"]["message"], bad
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT operation, justification, result_count FROM audit_log"
                                 " WHERE principal = 'dupont' AND operation LIKE %s ORDER BY id", ("%sightings",))
        assert (await cur.fetchall())[:2] == [("GET /v1/vehicles/{plate}/sightings", None, 3),
                                              ("GET /v1/vehicles/{plate}/sightings", "PV 2026/77", 4)]


async def test_passes_without_a_procedure_only_those_with_a_hit(service, store):
    entry = await store.add_watch_entry("AB123CD")
    async with store.pool.connection() as conn:
        ids = []
        for plate in ("AB123CD", "XY456ZT"):
            cur = await conn.execute(
                "INSERT INTO passes (camera_id, first_seen, last_seen, plate_text, plate_norm, confidence, frames,"
                " status, closed_at) VALUES ('cam-1', %s, %s, %s, %s, 0.9, 3, 'closed', %s) RETURNING id",
                (T0, T0, plate, plate, T0))
            ids.append((await cur.fetchone())[0])
        await conn.execute("INSERT INTO hits (read_id, read_at, camera_id, plate_norm, entry_id, list_name, match_type,"
                           " pass_id) VALUES (1, %s, 'cam-1', 'AB123CD', %s, 'default', 'exact', %s)",
                           (T0, entry.id, ids[0]))
    async with aiohttp.ClientSession(headers=service.auth("analyst")) as http:
        async with http.get(f"{service}/v1/passes") as r:
            body = await r.json()
            assert [p["id"] for p in body["passes"]] == [ids[0]] and r.headers[RESTRICTED_HEADER] == RESTRICTED
        async with http.get(f"{service}/v1/passes", params={"procedure": "PV 1"}) as r:
            assert sorted(p["id"] for p in (await r.json())["passes"]) == ids
        async with http.get(f"{service}/v1/passes/{ids[1]}") as r:
            assert r.status == 403
        async with http.get(f"{service}/v1/passes/{ids[1]}", params={"procedure": "PV 1"}) as r:
            assert r.status == 200
        async with http.get(f"{service}/v1/passes/{ids[0]}") as r:
            assert r.status == 200
