"""Pure logic: plate normalisation, exact matching, ping validation."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from lapi.matching import WatchEntry, match_read
from lapi.plates import names_a_vehicle, normalise_plate
from trackers.pings import PingError, validate_ping, validate_ping_batch

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("raw,norm", [
    ("AB-123-CD", "AB123CD"), ("ab 123 cd", "AB123CD"), ("1234 ab 56", "1234AB56"),
    ("  gv–073–kp ", "GV073KP"), ("É-12", "E12"), ("", ""),
])
def test_normalise_plate(raw, norm):
    assert normalise_plate(raw) == norm


@pytest.mark.parametrize("text,ok", [("ab-123-cd", True), ("A1", True), ("  1 ", False), ("ABCDEFGHJK", True),
                                     ("ABCDEFGHJKL", False), ("\x00", False), ("-x", False)])
def test_a_plate_names_a_vehicle_with_2_to_10_letters_or_digits(text, ok):
    assert names_a_vehicle(text) is ok


def test_exact_match_orders_by_priority():
    entries = [WatchEntry(1, "a", "AB123CD", "AB-123-CD", "", "", 1),
               WatchEntry(2, "b", "AB123CD", "AB123CD", "", "", 5),
               WatchEntry(3, "a", "ZZ999ZZ", "ZZ-999-ZZ", "", "", 5)]
    hits = match_read("AB123CD", entries)
    assert [h.entry.id for h in hits] == [2, 1]
    assert all(h.match_type == "exact" for h in hits)
    assert match_read("AB123CE", entries) == []


def test_valid_ping_with_iso_and_unix_times():
    p = validate_ping({"beacon_id": "b-1", "time": "2026-11-23T11:59:00+01:00", "lat": 50.9, "lon": 1.8,
                       "speed_kmh": 88.5, "battery_pct": 71}, NOW)
    assert p.fix_time == datetime(2026, 11, 23, 10, 59, tzinfo=timezone.utc)
    assert (p.lat, p.lon, p.speed_kmh, p.battery_pct) == (50.9, 1.8, 88.5, 71.0)
    q = validate_ping({"beacon_id": "b-1", "time": int(NOW.timestamp() * 1000), "lat": 0, "lon": 0}, NOW)
    assert q.fix_time == NOW


@pytest.mark.parametrize("ping,field", [
    ({"time": "2026-11-23T11:00:00Z", "lat": 1, "lon": 1}, "beacon_id"),
    ({"beacon_id": "b", "lat": 1, "lon": 1}, "time"),
    ({"beacon_id": "b", "time": "2026-11-23T11:00:00", "lat": 1, "lon": 1}, "time"),  # no offset
    ({"beacon_id": "b", "time": "yesterday", "lat": 1, "lon": 1}, "time"),
    ({"beacon_id": "b", "time": "2026-11-24T11:00:00Z", "lat": 1, "lon": 1}, "time"),  # future
    ({"beacon_id": "b", "time": "2026-11-23T11:00:00Z", "lat": 91, "lon": 1}, "lat"),
    ({"beacon_id": "b", "time": "2026-11-23T11:00:00Z", "lat": 1, "lon": "2"}, "lon"),
    ({"beacon_id": "b", "time": "2026-11-23T11:00:00Z", "lat": 1, "lon": 1, "speed_kmh": 900}, "speed_kmh"),
    ({"beacon_id": "b", "time": "2026-11-23T11:00:00Z", "lat": float("nan"), "lon": 1}, "lat"),
    ({"beacon_id": "b c", "time": "2026-11-23T11:00:00Z", "lat": 1, "lon": 1}, "beacon_id"),
])
def test_invalid_ping_names_the_field(ping, field):
    with pytest.raises(PingError) as err:
        validate_ping(ping, NOW)
    assert err.value.field == field
    assert field in str(err.value)


def test_batch_is_all_or_nothing_and_names_the_index():
    good = {"beacon_id": "b", "time": "2026-11-23T11:00:00Z", "lat": 1, "lon": 1}
    assert len(validate_ping_batch([good, dict(good, time="2026-11-23T11:01:00Z")], NOW)) == 2
    with pytest.raises(PingError, match=r"ping\[1\]\.lat"):
        validate_ping_batch([good, dict(good, lat=200)], NOW)
    with pytest.raises(PingError, match="empty"):
        validate_ping_batch([], NOW)
    with pytest.raises(PingError, match="JSON object"):
        validate_ping_batch(["x"], NOW - timedelta(days=1))


def test_touches_frame_edge():
    from lapi.boxes import touches_frame_edge

    assert not touches_frame_edge((100, 100, 200, 50), 1440, 1080)
    assert touches_frame_edge((0, 500, 100, 30), 1440, 1080)  # left
    assert touches_frame_edge((1340, 500, 100, 30), 1440, 1080)  # right
    assert touches_frame_edge((500, 1030, 100, 37), 1440, 1080)  # within 1.5 % of the bottom (16.2 px)
    assert not touches_frame_edge((500, 1020, 100, 37), 1440, 1080)
    assert touches_frame_edge((500, 16, 100, 30), 1440, 1080)  # top
    assert touches_frame_edge((630 - 90 - 9, 100, 90, 20), 630, 360)  # a cut plate's box 9 px short of the border
    assert not touches_frame_edge((14, 100, 90, 20), 640, 360)  # a whole plate 14 px from it
    # a small frame still leaves its border a pixel wide
    assert touches_frame_edge((1, 20, 40, 10), 60, 50) and not touches_frame_edge((2, 20, 40, 10), 60, 50)


def test_iou():
    from lapi.boxes import iou

    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_eval_scoring_and_aggregation():
    from lapi.evaluation import aggregate, edit_distance, score_image
    from lapi.reading.detector import Detection
    from lapi.reading.pipeline import PlateRead

    def read(text, box, score=0.9, conf=0.9, fmt=None):
        return PlateRead(text, text, conf, (), Detection(*box, score), b"", "FR" if fmt else None, fmt)

    g = {"source": "s", "country": "FR", "format": "SIV"}
    truth_box = (100, 100, 200, 50)
    good = score_image("AB123CD", truth_box, [Detection(100, 100, 200, 50, 0.9)],
                       [read("AB123CD", (100, 100, 200, 50))], 10.0, g)
    assert (good.captured, good.read_correct, good.end_to_end, good.char_accuracy) == (True, True, True, 1.0)
    # a confident false detection elsewhere wins the "best read": captured and read right, end-to-end wrong
    fooled = score_image("AB123CD", truth_box, [Detection(100, 100, 200, 50, 0.5), Detection(0, 0, 50, 20, 0.99)],
                         [read("AB123CD", (100, 100, 200, 50), 0.5), read("XX12", (0, 0, 50, 20), 0.99)], 30.0, g)
    assert (fooled.captured, fooled.read_correct, fooled.end_to_end) == (True, True, False)
    # ... unless the plate's read fits a known format and the other does not: formats rank first
    formatted = score_image("AB123CD", truth_box, [Detection(100, 100, 200, 50, 0.5), Detection(0, 0, 50, 20, 0.99)],
                            [read("AB123CD", (100, 100, 200, 50), 0.5, fmt="SIV"), read("XX12", (0, 0, 50, 20), 0.99)],
                            30.0, g)
    assert formatted.end_to_end
    # a formatted read on the frame's border (a passing car's cut plate, a watermark) ranks after one inside it
    edge_box = (1230, 400, 50, 20)
    bordered = score_image("AB123CD", truth_box, [Detection(100, 100, 200, 50, 0.5), Detection(*edge_box, 0.99)],
                           [read("AB123CD", (100, 100, 200, 50), 0.5, fmt="SIV"),
                            replace(read("XY123ZT", edge_box, 0.99, fmt="SIV"), at_frame_edge=True)], 30.0, g)
    assert bordered.end_to_end
    # ... but still before a read that fits no format: a tightly framed plate fills the photo
    tight = score_image("AB123CD", truth_box, [Detection(*truth_box, 0.5), Detection(0, 0, 50, 20, 0.99)],
                        [replace(read("AB123CD", truth_box, 0.5, fmt="SIV"), at_frame_edge=True),
                         read("XX12", (0, 0, 50, 20), 0.99)], 30.0, g)
    assert tight.end_to_end
    missed = score_image("AB123CD", truth_box, [], [], 20.0, dict(g, format="FNI"))
    assert (missed.captured, missed.end_to_end, missed.char_accuracy) == (False, False, 0.0)
    result = aggregate([good, fooled, missed])
    assert set(result) == {"n", "capture_rate", "read_accuracy", "end_to_end", "char_accuracy",
                           "ms_per_image_median", "by_group"}
    assert result["capture_rate"] == round(2 / 3, 4) and result["read_accuracy"] == 1.0
    assert result["end_to_end"] == round(1 / 3, 4) and result["ms_per_image_median"] == 20.0
    assert result["by_group"]["format"]["FNI"]["n"] == 1
    assert result["by_group"]["format"]["SIV"]["end_to_end"] == 0.5
    assert edit_distance("AB123CD", "AB12CD") == 1 and edit_distance("", "ABC") == 3


def test_attachment_header_keeps_a_file_name_safe():
    from lapi.api.download import attachment

    assert attachment("case-12-20261207.zip") == 'attachment; filename="case-12-20261207.zip"'
    assert attachment('watchlist-a"b\r\nX-Evil: 1.csv') == (
        "attachment; filename=\"watchlist-a_bX-Evil_1.csv\"; "
        "filename*=UTF-8''watchlist-a%22bX-Evil%3A%201.csv")
    assert attachment("\x7f") == 'attachment; filename="download"'
