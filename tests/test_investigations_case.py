"""Case export (issue 12): a signed archive of chosen evidence that the receiving service can check;
a tampered archive fails verification, in the library, over HTTP and with ``lapi case verify``."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest_asyncio

from lapi.api.app import create_app
from lapi.investigations.case import verify
from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead
from tests.conftest import ROOT, serve_app

KEY = "correct horse battery staple 2026"
PV = "PV 2026/0412"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def plate_read(norm: str) -> PlateRead:
    return PlateRead(norm, norm, 0.9, (0.9,) * len(norm), Detection(10, 20, 120, 30, 0.88), b"\xff\xd8crop-" + norm.encode())


@pytest_asyncio.fixture
async def service(store, monkeypatch):
    monkeypatch.setenv("LAPI_CASE_KEY", KEY)
    url, runner = await serve_app(create_app(store, None), store)
    yield url
    await runner.cleanup()


def rezip(data: bytes, change: dict[str, bytes | None]) -> bytes:
    """The archive with some members replaced (None: removed) or added."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in src.namelist():
            if name in change:
                if change[name] is not None:
                    z.writestr(name, change[name])
            else:
                z.writestr(name, src.read(name))
        for name, content in change.items():
            if name not in src.namelist() and content is not None:
                z.writestr(name, content)
    return out.getvalue()


async def test_case_export_is_signed_complete_audited_and_tamper_evident(service, store, tmp_path):
    t = NOW - timedelta(hours=5)
    (quiet,) = await store.store_reads("cam-1", t, [plate_read("GH789JK")])
    await store.add_watch_entry("GH789JK", category="stupéfiants")
    (hit_read,) = await store.store_reads("cam-1", t + timedelta(hours=1), [plate_read("GH789JK")])
    analyst = await service.user("Lt Dupont")
    async with aiohttp.ClientSession(headers=analyst) as http:
        async with http.get(f"{service}/v1/vehicles/GH789JK/sightings", params={"procedure": PV}) as r:
            assert r.status == 200  # how the evidence was found: in the archive's audit trail
        body = {"read_ids": [quiet.id], "hit_ids": [hit_read.hits[0].id], "note": "saisie du 23/11",
                "routes": [{"plate": "GH-789-JK", "from": (t - timedelta(hours=1)).isoformat(),
                            "to": NOW.isoformat()}]}
        async with http.post(f"{service}/v1/investigations/cases", params={"procedure": PV}, json=body) as r:
            assert r.status == 200, await r.text()
            assert r.content_type == "application/zip"
            data, case_id = await r.read(), int(r.headers["X-LAPI-Case-Id"])

        z = zipfile.ZipFile(io.BytesIO(data))
        names = set(z.namelist())
        assert {"manifest.json", "signature.json", "reads.json", "hits.json", "passes.json", "cameras.json",
                "audit.json", f"crops/{quiet.id}.jpg", f"crops/{hit_read.id}.jpg"} <= names
        assert any(n.startswith("routes/GH789JK_") and n.endswith(".geojson") for n in names)
        assert z.read(f"crops/{quiet.id}.jpg") == b"\xff\xd8crop-GH789JK"
        assert sorted(r["id"] for r in json.loads(z.read("reads.json"))) == sorted([quiet.id, hit_read.id])
        assert [h["read_id"] for h in json.loads(z.read("hits.json"))] == [hit_read.id]
        trail = json.loads(z.read("audit.json"))
        assert [(a["principal"], a["operation"]) for a in trail] == [("Lt Dupont", "GET /v1/vehicles/{plate}/sightings")]
        manifest = json.loads(z.read("manifest.json"))
        assert manifest["procedure"] == PV and manifest["created_by"] == "Lt Dupont" and manifest["note"] == "saisie du 23/11"
        assert len(manifest["files"]) == len(names) - 2

        result = verify(data, KEY.encode())
        assert result.ok and result.problems == []
        async with http.post(f"{service}/v1/investigations/cases/verify", data=data,
                             headers={"Content-Type": "application/zip"}) as r:
            assert r.status == 200 and (await r.json())["ok"] is True

        tampered = {  # each alteration and what verification says
            "one read changed": (rezip(data, {"reads.json": z.read("reads.json").replace(b"GH789JK", b"GH789JX")}),
                                 "reads.json: content differs"),
            "a crop removed": (rezip(data, {f"crops/{quiet.id}.jpg": None}), "missing from the archive"),
            "a file slipped in": (rezip(data, {"crops/extra.jpg": b"\xff\xd8"}), "not in the manifest"),
            "manifest edited": (rezip(data, {"manifest.json": z.read("manifest.json").replace(b"Lt Dupont", b"Cne Martin")}),
                                "signature does not match"),
        }
        for what, (archive, fragment) in tampered.items():
            result = verify(archive, KEY.encode())
            assert not result.ok and any(fragment in p for p in result.problems), (what, result.problems)
        assert not verify(data, b"another key").ok
        async with http.post(f"{service}/v1/investigations/cases/verify", data=tampered["one read changed"][0],
                             headers={"Content-Type": "application/zip"}) as r:
            answer = await r.json()
            assert r.status == 200 and answer["ok"] is False and "reads.json" in answer["problems"][0]

    # lapi case export, the client command, fetches the same kind of archive
    good, bad = tmp_path / "case.zip", tmp_path / "tampered.zip"
    token = await service.token("Lt Dupont")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lapi.cli", "case", "export", "--url", service, "--token", token, "--procedure", PV,
        "--read", str(quiet.id), "--hit", str(hit_read.hits[0].id), "-o", str(good), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["bytes"] == good.stat().st_size and verify(good.read_bytes(), KEY.encode()).ok
    bad.write_bytes(tampered["one read changed"][0])
    env = {**os.environ, "LAPI_CASE_KEY": KEY}
    cli = [sys.executable, "-m", "lapi.cli", "case", "verify"]
    ok = subprocess.run([*cli, str(good)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    ko = subprocess.run([*cli, str(bad)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert ko.returncode == 1 and "reads.json: content differs" in ko.stdout

    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT action, justification, principal, result_count FROM audit_log"
                                 " WHERE operation = 'POST /v1/investigations/cases'")
        assert (await cur.fetchall())[0] == ("export", PV, "Lt Dupont", len(names) - 2)
        cur = await conn.execute("SELECT procedure, created_by, manifest_sha256 FROM case_exports WHERE id = %s", (case_id,))
        row = await cur.fetchone()
        assert row[:2] == (PV, "Lt Dupont") and len(row[2]) == 64


async def test_case_export_says_what_is_missing(service, store, monkeypatch):
    (read,) = await store.store_reads("cam-1", NOW - timedelta(hours=1), [plate_read("GH789JK")])
    async with aiohttp.ClientSession(headers=service.auth("analyst")) as http:
        async def post(params: dict, body: dict) -> tuple[int, str]:
            async with http.post(f"{service}/v1/investigations/cases", params=params, json=body) as r:
                return r.status, (await r.json())["error"]["message"] if r.status >= 400 else ""

        assert await post({}, {"read_ids": [read.id]}) == (400, "procedure: required, the reference of the procedure "
                                                                "the case is exported for")
        status, message = await post({"procedure": PV}, {})
        assert status == 400 and "nothing to export" in message
        status, message = await post({"procedure": PV}, {"read_ids": [read.id, 999999]})
        assert status == 404 and "read_ids: no read with id 999999" in message
        status, message = await post({"procedure": PV}, {"read_ids": ["x"]})
        assert status == 400 and "read_ids: must be a list" in message
        status, message = await post({"procedure": PV}, {"routes": [{"plate": "GH789JK", "from": "yesterday"}]})
        assert status == 400 and "routes[0].from" in message
        monkeypatch.delenv("LAPI_CASE_KEY")
        status, message = await post({"procedure": PV}, {"read_ids": [read.id]})
        assert status == 409 and "LAPI_CASE_KEY" in message
    async with aiohttp.ClientSession(headers=service.auth("consumer")) as http:
        async with http.post(f"{service}/v1/investigations/cases", params={"procedure": PV}, json={}) as r:
            assert r.status == 403
