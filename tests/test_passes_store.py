"""Passes through the real store: frame reads stored for audit under their pass, the pass matched and
alerted once when confident, a later change of consensus revising the same hit, idle closing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lapi.passes import PassRecorder, needs_match
from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead
from lapi.store.passes import PassRecord
from lapi.video_config import TrackingSettings

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)
SETTINGS = TrackingSettings(enabled=True, idle_s=1.0, hit_confidence=0.9, hit_min_frames=2)


def plate(text: str, i: int, conf: float = 0.97, x0: int = 100, lane_y: int = 100) -> PlateRead:
    """The i-th frame's read of a plate driving down the picture towards the camera."""
    box = Detection(x0 + 2 * i, lane_y + 12 * i, 160 + 4 * i, 40 + i, 0.9)
    return PlateRead(text, text, conf, (conf,) * len(text), box, b"", "FR", "SIV")


async def feed(recorder: PassRecorder, frames: list[list[PlateRead]], start: int = 0, camera: str = "cam-1"):
    results = []
    for i, reads in enumerate(frames, start):
        results.append(await recorder.submit(camera, T0 + timedelta(seconds=0.1 * i), reads))
    return results


async def outbox(store) -> list[tuple]:
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT id, hit_id, revises_hit_id, payload FROM alert_outbox ORDER BY id")
        return await cur.fetchall()


def test_needs_match_rules():
    from lapi.consensus import Consensus

    def c(norm: str, conf: float, frames: int) -> Consensus:
        return Consensus(norm, norm, "FR", "SIV", conf, (), frames, frames, 0, 0.0, 0.1, None, None)

    rec = PassRecord()
    assert not needs_match(rec, c("AB123CD", 0.95, 1), False, SETTINGS)  # one frame is not enough
    assert needs_match(rec, c("AB123CD", 0.95, 2), False, SETTINGS)
    assert not needs_match(rec, c("AB123CD", 0.85, 5), False, SETTINGS)  # not confident
    assert needs_match(rec, c("AB123CD", 0.5, 1), True, SETTINGS)  # closing: the final consensus counts
    rec.matched_norm = "AB123CD"
    assert not needs_match(rec, c("AB123CD", 0.99, 9), True, SETTINGS)  # already matched for that plate


async def test_one_pass_one_hit_one_alert_raised_early_reads_kept_for_audit(store):
    await store.add_watch_entry("AB-123-CD", category="stolen", priority=3)
    recorder = PassRecorder(store, SETTINGS)
    results = await feed(recorder, [[plate("AB123CD", i)] for i in range(6)])
    assert not results[0].alerts  # one frame: not yet
    assert len(results[1].alerts) == 1  # the second agreeing frame: confident, alerted before the car has gone
    assert all(not r.alerts for r in results[2:])
    alert = results[1].alerts[0]
    assert (alert["type"], alert["plate_norm"], alert["state"], alert["revision"]) == ("hit", "AB123CD", "new", 1)
    assert alert["pass_id"] == results[0].pass_ids[0] and alert["frames"] == 2
    assert {r.pass_ids[0] for r in results} == {alert["pass_id"]}

    pass_id = alert["pass_id"]
    row = await recorder.pass_store.get_pass(pass_id)
    assert row["status"] == "open" and row["frames"] == 6 and row["plate_text"] == "AB-123-CD"
    assert row["direction"] == "approaching" and row["bearing"] == 270.0  # cam-1 looks east: vehicles drive west
    assert [r["id"] for r in row["reads"]] == [r.read_ids[0] for r in results]
    assert len(row["hits"]) == 1 and row["hits"][0]["alert_ids"] == [alert["alert_id"]]
    # the frame reads are stored (audit) but none of them has a hit of its own
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*), count(DISTINCT pass_id) FROM plate_reads")
        assert await cur.fetchone() == (6, 1)
        cur = await conn.execute("SELECT count(*) FROM hits WHERE pass_id IS NULL")
        assert (await cur.fetchone())[0] == 0
    assert len(await outbox(store)) == 1
    # the hit is a normal hit for analysts: listed, with its alert id
    (hit,) = await store.hits()
    assert hit["alert_id"] == alert["alert_id"] and hit["plate_norm"] == "AB123CD"

    # the car leaves; the next frame, 2 s later, closes the pass and starts nothing new
    later = await recorder.submit("cam-1", T0 + timedelta(seconds=3), [])
    assert later.passes == [{**later.passes[0], "pass_id": pass_id, "status": "closed"}]
    assert not later.alerts
    assert (await recorder.pass_store.get_pass(pass_id))["status"] == "closed"


async def test_changed_consensus_revises_the_same_hit_then_withdraws_it(store):
    entry = await store.add_watch_entry("AB-123-CD", category="stolen")
    recorder = PassRecorder(store, SETTINGS)
    # two clear frames read 7 for 1: confident, a lookalike hit
    first = await feed(recorder, [[plate("AB723CD", i, 0.99)] for i in range(2)])
    (alert,) = first[1].alerts
    assert alert["match_type"] == "lookalike" and alert["entry_id"] == entry.id
    # five frames read the plate right: the consensus changes, the same hit becomes exact
    more = await feed(recorder, [[plate("AB123CD", i, 0.99)] for i in range(2, 7)], start=2)
    revisions = [a for r in more for a in r.alerts]
    assert len(revisions) == 1
    rev = revisions[0]
    assert (rev["hit_id"], rev["revision"], rev["state"], rev["match_type"], rev["revises_alert_id"]) == \
        (alert["hit_id"], 2, "updated", "exact", alert["alert_id"])
    assert rev["alert_id"] > alert["alert_id"] and rev["pass_id"] == alert["pass_id"]
    (hit,) = await store.hits()  # still one hit, now exact, its first alert id unchanged
    assert (hit["id"], hit["match_type"], hit["alert_id"]) == (alert["hit_id"], "exact", alert["alert_id"])
    # then many more frames read a 4 where the 3 is: the plate is not the listed one after all
    last = await feed(recorder, [[plate("AB124CD", i, 0.99)] for i in range(7, 20)], start=7)
    withdrawn = [a for r in last for a in r.alerts]
    assert [(a["state"], a["revision"], a["hit_id"]) for a in withdrawn] == [("withdrawn", 3, alert["hit_id"])]
    rows = await outbox(store)
    assert [(r[1], r[2]) for r in rows] == [(alert["hit_id"], None), (None, alert["hit_id"]), (None, alert["hit_id"])]
    detail = await recorder.pass_store.get_pass(alert["pass_id"])
    assert detail["plate_norm"] == "AB124CD" and detail["hits"][0]["withdrawn_at"] is not None
    assert detail["hits"][0]["alert_ids"] == [r[0] for r in rows]
    assert len(await store.hits()) == 1


async def test_a_pass_that_never_got_confident_is_matched_when_it_closes(store):
    await store.add_watch_entry("AB-123-CD")
    recorder = PassRecorder(store, SETTINGS)
    (only,) = await feed(recorder, [[plate("AB123CD", 0, 0.97)]])  # one frame only
    assert not only.alerts
    closing = await recorder.submit("cam-1", T0 + timedelta(seconds=5), [plate("QQ111QQ", 0, 0.97, x0=400)])
    assert [a["plate_norm"] for a in closing.alerts] == ["AB123CD"]
    assert {p["status"] for p in closing.passes} == {"closed", "open"}


async def test_two_vehicles_in_two_lanes_are_two_passes(store):
    recorder = PassRecorder(store, SETTINGS)
    results = await feed(recorder, [[plate("AB123CD", i), plate("GV073KP", i, x0=420, lane_y=60)] for i in range(5)])
    pairs = {tuple(r.pass_ids) for r in results}
    assert len(pairs) == 1 and len(set(pairs.pop())) == 2
    rows = await recorder.pass_store.passes(camera_id="cam-1")
    assert sorted(r["plate_norm"] for r in rows) == ["AB123CD", "GV073KP"]
    assert [r["plate_norm"] for r in await recorder.pass_store.passes(plate="gv-073-kp")] == ["GV073KP"]


async def test_silent_camera_passes_closed_by_the_sweep_and_stale_ones_at_restart(store):
    now = [100.0]
    recorder = PassRecorder(store, SETTINGS, clock=lambda: now[0])
    (r,) = await feed(recorder, [[plate("AB123CD", 0)]])
    await recorder.sweep()
    assert (await recorder.pass_store.get_pass(r.pass_ids[0]))["status"] == "open"
    now[0] += 1.5  # no frame for longer than idle_s ...
    up = [True]
    recorder.fed_by("cam-1", lambda: up[0])  # ... but its video source is up: the reader is just slow
    await recorder.sweep()
    assert (await recorder.pass_store.get_pass(r.pass_ids[0]))["status"] == "open"
    up[0] = False  # the stream is lost, or the camera only pushes stills
    await recorder.sweep()
    assert (await recorder.pass_store.get_pass(r.pass_ids[0]))["status"] == "closed"

    # a pass left open by a process that died is closed by the next one's first frame
    (open_one,) = await feed(recorder, [[plate("GV073KP", 0)]], start=50)
    restarted = PassRecorder(store, SETTINGS)
    await feed(restarted, [[plate("GV073KP", 0)]], start=80)
    assert (await restarted.pass_store.get_pass(open_one.pass_ids[0]))["status"] == "closed"


async def test_unknown_pass_is_not_found(store):
    from lapi.store.errors import NotFound

    with pytest.raises(NotFound):
        await PassRecorder(store).pass_store.get_pass(12345)
