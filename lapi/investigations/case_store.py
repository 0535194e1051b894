"""Gathering a case archive's evidence from the store, and recording the export.

What goes in (:class:`CaseRequest`): chosen reads, passes and hits (a hit brings its read, a read
its hits), routes of plates over windows (GeoJSON), the crops of the reads, the cameras involved,
and the audit trail of every call made under the procedure: how the evidence was obtained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from psycopg.rows import dict_row

from geo.routes import RouteRules, route_from_track
from lapi.investigations.case import CaseArchive
from lapi.store.db import _HIT_COLUMNS, _HIT_FROM, Store
from lapi.store.errors import NotFound
from lapi.store.geo import GeoStore

MAX_ITEMS = 1000
ROUTE_LIMIT = 100_000

_READ_COLUMNS = ("id, read_at, received_at, camera_id, plate_text, plate_norm, country, plate_format, confidence,"
                 " char_confidences, box_x, box_y, box_w, box_h, detector_score, lat, lon, heading, pass_id,"
                 " candidates, candidate_scores")


@dataclass(frozen=True)
class RouteRequest:
    plate_norm: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class CaseRequest:
    procedure: str
    read_ids: tuple[int, ...] = ()
    pass_ids: tuple[int, ...] = ()
    hit_ids: tuple[int, ...] = ()
    routes: tuple[RouteRequest, ...] = ()
    crops: bool = True
    note: str = ""
    chosen: dict[str, Any] = field(default_factory=dict)  # the request as made, for the manifest


def _missing(kind: str, wanted: tuple[int, ...], rows: list[dict[str, Any]]) -> None:
    found = {r["id"] for r in rows}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(f"{kind}: no {kind[:-4]} with id {missing[0]}" + (f" (and {len(missing) - 1} more)"
                                                                            if len(missing) > 1 else ""))


async def gather(store: Store, req: CaseRequest, meta: dict[str, Any]) -> CaseArchive:
    """The archive's files for ``req`` (NotFound naming the first id that does not exist)."""
    archive = CaseArchive(meta={**meta, "procedure": req.procedure, "note": req.note, "request": req.chosen})
    async with store.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(f"SELECT {_HIT_COLUMNS}{_HIT_FROM} WHERE h.id = ANY(%s) ORDER BY h.id", (list(req.hit_ids),))
        chosen_hits = await cur.fetchall()
        _missing("hit_ids", req.hit_ids, chosen_hits)
        await cur.execute(f"SELECT {_READ_COLUMNS} FROM plate_reads WHERE id = ANY(%s) ORDER BY read_at, id",
                          (list(req.read_ids),))
        reads = await cur.fetchall()
        _missing("read_ids", req.read_ids, reads)
        extra = sorted({h["read_id"] for h in chosen_hits} - {r["id"] for r in reads})
        if extra:  # the reads behind the chosen hits
            await cur.execute(f"SELECT {_READ_COLUMNS} FROM plate_reads WHERE id = ANY(%s)", (extra,))
            reads = sorted(reads + await cur.fetchall(), key=lambda r: (r["read_at"], r["id"]))
        await cur.execute(f"SELECT {_HIT_COLUMNS}{_HIT_FROM} WHERE h.id = ANY(%s) OR h.read_id = ANY(%s)"
                          " ORDER BY h.id", (list(req.hit_ids), [r["id"] for r in reads]))
        hits = await cur.fetchall()
        await cur.execute("SELECT * FROM passes WHERE id = ANY(%s) ORDER BY id", (list(req.pass_ids),))
        passes = await cur.fetchall()
        _missing("pass_ids", req.pass_ids, passes)
        cameras = sorted({r["camera_id"] for r in reads} | {p["camera_id"] for p in passes})
        await cur.execute("SELECT id, name, lat, lon, heading, road FROM cameras WHERE id = ANY(%s) ORDER BY id",
                          (cameras,))
        archive.add_json("cameras.json", await cur.fetchall())
        await cur.execute("SELECT id, at, principal, role, habilitation, action, operation, justification, parameters,"
                          " result_count, status FROM audit_log WHERE justification = %s ORDER BY id", (req.procedure,))
        archive.add_json("audit.json", await cur.fetchall())
        if req.crops and reads:
            cur2 = await conn.execute("SELECT id, crop_jpeg FROM plate_reads WHERE id = ANY(%s) AND crop_jpeg IS NOT NULL",
                                      ([r["id"] for r in reads],))
            for read_id, crop in await cur2.fetchall():
                archive.files[f"crops/{read_id}.jpg"] = bytes(crop)
    archive.add_json("reads.json", reads)
    archive.add_json("hits.json", hits)
    archive.add_json("passes.json", passes)
    geo = GeoStore(store)
    for route in req.routes:
        track, truncated = await geo.route_track(route.plate_norm, route.start, route.end, ROUTE_LIMIT)
        archive.files[f"routes/{route.plate_norm}_{route.start.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}.geojson"] = bytes(
            route_from_track(track, RouteRules()).geojson_text(
                "full", plate_norm=route.plate_norm, start=route.start.isoformat(), end=route.end.isoformat(),
                truncated=truncated))
    return archive


async def record_export(store: Store, procedure: str, who: str, habilitation: str, manifest_sha256: str,
                        signature: str, files: int, size: int) -> int:
    """The export in ``case_exports`` (append-only): which archive the service issued, for whom."""
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO case_exports (procedure, created_by, habilitation, manifest_sha256, signature, algorithm,"
            " files, bytes) VALUES (%s, %s, %s, %s, %s, 'HMAC-SHA256', %s, %s) RETURNING id",
            (procedure, who, habilitation, manifest_sha256, signature, files, size))
        return (await cur.fetchone())[0]
