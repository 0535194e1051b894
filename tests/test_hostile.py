"""Hostile input (issue 8): oversized bodies and batches, decompression bombs, corrupt and
truncated images, malformed JSON and CSV, out-of-range coordinates, bad Unicode in plate searches:
each a 4xx with a clear message, and the service keeps serving."""

import json
import struct
import zlib

import aiohttp

from lapi.api.limits import image_size


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024, 9)) + chunk(b"IEND", b"")


def jpeg_claiming(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with its frame header (SOF0/SOF2) rewritten to declare another size."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        i = jpeg.find(marker)
        if i > 0:
            return jpeg[:i + 5] + struct.pack(">HH", height, width) + jpeg[i + 9:]
    raise AssertionError("no SOF marker")


def test_image_size_is_read_from_the_header_only(fixture_frame):
    body, _ = fixture_frame
    assert image_size(png_claiming(50_000, 40_000)[:20]) is None  # not even a whole header: left to the reader
    w, h = image_size(body)
    assert (w, h) == image_size(body[:2000])  # the size comes from the first bytes: nothing is decoded
    assert image_size(jpeg_claiming(body, 9000, 7000)) == (9000, 7000)


async def test_hostile_inputs_get_a_clear_4xx_and_the_service_keeps_serving(service, fixture_frame):
    body, plate = fixture_frame
    jpeg, png, js, csv = ({"Content-Type": t} for t in ("image/jpeg", "image/png", "application/json", "text/csv"))
    big_json = json.dumps([{"beacon_id": "b1", "time": "2026-11-20T08:00:00Z", "lat": 1, "lon": 1, "pad": "x" * 100}]
                          * 11_000).encode()
    cases = [
        # images: decompression bombs refused from the header, corrupt and truncated ones by the reader
        ("POST", "/v1/frames?camera_id=cam-1", png_claiming(50_000, 40_000), png, 413, "limits.max_image_pixels"),
        ("POST", "/v1/frames?camera_id=cam-1", png_claiming(20_000, 100), png, 413, "per side"),
        ("POST", "/v1/frames?camera_id=cam-1", jpeg_claiming(body, 60_000, 60_000), jpeg, 413, "refused before decoding"),
        ("POST", "/v1/frames?camera_id=cam-1", body[: len(body) // 3], jpeg, 400, "image:"),
        ("POST", "/v1/frames?camera_id=cam-1", b"\xff\xd8\xff\xe0" + b"\x00" * 500, jpeg, 400, "corrupt"),
        ("POST", "/v1/frames?camera_id=cam-1", png_claiming(640, 480), png, 400, "image:"),
        # bodies and batches over the limits
        ("POST", "/v1/pings", big_json, js, 413, "limits.max_json_bytes"),
        ("POST", "/v1/pings", json.dumps([{"beacon_id": "b1", "time": "2026-11-20T08:00:00Z", "lat": 1, "lon": 1}]
                                         * 1001).encode(), js, 413, "limits.max_ping_batch"),
        ("POST", "/v1/watchlist/import", b"plate\n" + b"AB123CD\n" * 150_000, csv, 413, "limits.max_json_bytes"),
        # malformed JSON and CSV
        ("POST", "/v1/pings", b"[" * 100_000 + b"]" * 100_000, js, 400, "malformed JSON"),
        ("POST", "/v1/pings", b'{"beacon_id": "b1", "lat": 1' + b"9" * 5000 + b"}", js, 400, "malformed JSON"),
        ("POST", "/v1/pings", b'{"beacon_id": "b1", "lat": NaN, "lon": 1, "time": "2026-11-20T08:00:00Z"}', js, 400,
         "lat"),
        ("POST", "/v1/pings", b"\xff\xfe{}", js, 400, "malformed JSON"),
        ("POST", "/v1/watchlist/import", b"plate,list\nAB\x00123,x\n", csv, 400, "CSV"),
        ("POST", "/v1/watchlist/import", b"plate\n\xff\xfe\n", csv, 400, "UTF-8"),
        ("POST", "/v1/watchlist/import", b'plate,note\nAB123CD,"unterminated\n', csv, 400, "CSV"),
        ("POST", "/v1/osmand?id=p1&lat=50&lon=1", b"x", {"Content-Type": "multipart/form-data"}, 400, "form body"),
        # out-of-range coordinates and times
        ("POST", "/v1/pings", b'{"beacon_id": "b1", "time": "2026-11-20T08:00:00Z", "lat": 91, "lon": 1}', js, 400,
         "lat"),
        ("POST", "/v1/pings", b'{"beacon_id": "b1", "time": "2026-11-20T08:00:00Z", "lat": 1, "lon": -181}', js, 400,
         "lon"),
        ("POST", "/v1/frames?camera_id=cam-1&lat=1e400", body, jpeg, 400, "lat"),
        ("POST", "/v1/frames?camera_id=cam-1&heading=-1", body, jpeg, 400, "heading"),
        ("POST", "/v1/cameras", b'{"id": "c9", "lon": 190}', js, 400, "lon"),
        ("POST", "/v1/cameras", b'{"id": ""}', js, 400, "id"),
        ("POST", "/v1/cameras", b'{"id": "bad id with spaces"}', js, 400, "id"),
        ("GET", "/v1/vehicles/AB123CD/sightings?from=0001-01-01T00:00:00%2B01:00", b"", {}, 400, "from"),
        ("GET", "/v1/vehicles/AB123CD/route?start=9999-12-31T23:59:59-01:00", b"", {}, 400, "start"),
        # bad Unicode and oversized plates in searches
        ("GET", "/v1/vehicles/%F0%9F%9A%97/sightings", b"", {}, 400, "plate"),
        ("GET", "/v1/vehicles/%FF%FE/sightings", b"", {}, 400, "plate"),
        ("GET", "/v1/vehicles/%ED%A0%80/track", b"", {}, 400, "plate"),
        ("GET", "/v1/vehicles/" + "A" * 65 + "/sightings", b"", {}, 400, "plate"),
        ("GET", "/v1/vehicles/%00%00/route", b"", {}, 400, "plate"),
        ("GET", "/v1/vehicles/AB123CD/sightings?procedure=%00", b"", {}, 400, "procedure"),
        ("GET", "/v1/hits?list=" + "x" * 5000, b"", {}, 400, "list"),
    ]
    async with aiohttp.ClientSession(headers=service.auth()) as http:
        for method, path, data, headers, status, message in cases:
            async with http.request(method, f"{service}{path}", data=data, headers=headers) as r:
                text = await r.text()
                assert r.status == status, (path[:80], r.status, text[:300])
                assert message in json.loads(text)["error"]["message"], (path[:80], text[:300])
                assert len(text) < 2000, (path[:80], "the error should not echo the input back")
        async with http.get(f"{service}/v1/fittings", params={"\x00odd\ud800": "\x00", "note": "é" * 300}) as r:
            assert r.status == 200  # odd query parameters are logged, cleaned, not refused
        # a request target over 8 KiB is refused by the HTTP parser before any route: 400, its message in plain text
        async with http.get(f"{service}/v1/hits?before=" + "x" * 9000) as r:
            assert r.status == 400 and "8190 bytes" in await r.text()
        async with http.get(f"{service}/v1/health") as r:
            assert r.status == 200 and (await r.json())["database"] == "ok"
        async with http.post(f"{service}/v1/frames?camera_id=cam-1", data=body, headers=jpeg) as r:
            assert r.status == 200 and [x["plate_norm"] for x in (await r.json())["reads"]] == [plate]
