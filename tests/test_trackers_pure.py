"""Pure beacon logic: OsmAnd parameters, the shared ping check, stop detection, [trackers] config."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import dataclasses
import pytest
from hypothesis import given, settings, strategies as st

from lapi.config import ConfigError, load_settings
from trackers.osmand import OsmAndError, decode_osmand
from trackers.pings import Ping, PingError, PingRules, check_ping
from trackers.state import BeaconState, BeaconStates, StopRules, apply_ping, distance_m

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parents[1]


def test_osmand_traccar_client_parameters():
    p = decode_osmand({"id": "123456", "lat": "50.9513", "lon": "1.8533", "timestamp": "1795420800",
                       "speed": "10", "bearing": "254.5", "altitude": "12.0", "accuracy": "4.5", "batt": "87"}, NOW)
    assert p.beacon_id == "123456" and p.fix_time == datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
    assert (p.lat, p.lon, p.heading, p.altitude_m, p.accuracy_m, p.battery_pct) == (50.9513, 1.8533, 254.5, 12.0, 4.5, 87.0)
    assert p.speed_kmh == 18.52  # 10 knots
    assert decode_osmand({"id": "x", "lat": "1", "lon": "2", "speed": "10"}, NOW, "ms").speed_kmh == 36.0


@pytest.mark.parametrize("ts,expected", [
    ("1795420800000", datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)),           # milliseconds
    ("2026-11-23T09:00:00+01:00", datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)),
    ("2026-11-23T09:00:00 01:00", datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)),  # '+' decoded to a space
    ("2026-11-23 08:00:00", datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)),        # no offset: UTC
    ("2026-11-23T08:00:00Z", datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)),
])
def test_osmand_timestamps(ts, expected):
    assert decode_osmand({"id": "b", "lat": "1", "lon": "1", "timestamp": ts}, NOW).fix_time == expected


def test_osmand_location_and_default_time():
    p = decode_osmand({"deviceid": "b-2", "location": "50.5,1.5"}, NOW)
    assert (p.beacon_id, p.lat, p.lon, p.fix_time) == ("b-2", 50.5, 1.5, NOW)


@pytest.mark.parametrize("params,reason", [
    ({"lat": "1", "lon": "1"}, "id"),
    ({"id": "a b", "lat": "1", "lon": "1"}, "id"),
    ({"id": "b", "lon": "1"}, "lat"),
    ({"id": "b", "lat": "north", "lon": "1"}, "lat"),
    ({"id": "b", "lat": "nan", "lon": "1"}, "lat"),
    ({"id": "b", "lat": "1", "lon": "1", "timestamp": "yesterday"}, "timestamp"),
    ({"id": "b", "lat": "1", "lon": "1", "timestamp": "99999999999999999"}, "timestamp"),
    ({"id": "b", "lat": "1", "lon": "1", "batt": "full"}, "batt"),
])
def test_osmand_bad_parameters(params, reason):
    with pytest.raises(OsmAndError) as err:
        decode_osmand(params, NOW)
    assert err.value.reason == reason and reason in str(err.value)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "deviceid", "lat", "lon", "location", "timestamp", "speed", "bearing",
                                        "heading", "altitude", "accuracy", "batt", "other"]),
                       st.one_of(st.text(max_size=30), st.from_regex(r"-?\d{1,14}(\.\d{1,8})?", fullmatch=True),
                                 st.sampled_from(["inf", "-inf", "nan", "1e308", "2026-11-23 08:00:00", "9" * 20]))),
       st.sampled_from(["kn", "kmh", "ms", "mph"]))
def test_fuzz_osmand_raises_only_its_error(params, unit):
    try:
        ping = decode_osmand(params, NOW, unit)
    except OsmAndError:
        return
    try:
        check_ping(ping, NOW)
    except PingError:
        pass


@pytest.mark.parametrize("change,field", [
    ({"lat": 90.5}, "lat"), ({"lon": -181.0}, "lon"), ({"speed_kmh": 401.0}, "speed_kmh"),
    ({"speed_kmh": -1.0}, "speed_kmh"), ({"fix_time": NOW + timedelta(minutes=6)}, "time"),
    ({"lat": float("inf")}, "lat"), ({"battery_pct": 101.0}, "battery_pct"), ({"beacon_id": ""}, "beacon_id"),
])
def test_check_ping_rules(change, field):
    good = Ping("b", NOW, 50.0, 1.8, speed_kmh=90.0)
    assert check_ping(good, NOW) is good
    with pytest.raises(PingError) as err:
        check_ping(dataclasses.replace(good, **change), NOW)
    assert err.value.field == field
    assert check_ping(Ping("b", NOW + timedelta(minutes=9), 1, 1, speed_kmh=450.0), NOW,
                      PingRules(timedelta(minutes=10), 500.0))


def at(minutes: float, lat: float, lon: float = 1.8) -> Ping:
    return Ping("b", NOW + timedelta(minutes=minutes), lat, lon, battery_pct=80 - minutes)


def test_stop_detection_dwell_radius_and_duration():
    rules = StopRules(radius_m=50, min_duration=timedelta(minutes=5))
    s = BeaconState("b")
    deg_30m = 30 / 111_195  # ~30 m of latitude
    apply_ping(s, at(0, 50.0), NOW, rules)
    assert s.moving is None
    apply_ping(s, at(1, 50.01), NOW, rules)  # ~1.1 km away: moving
    assert s.moving is True and s.state_since == NOW
    apply_ping(s, at(2, 50.01 + deg_30m), NOW, rules)  # jitter inside 50 m, but not 5 min yet
    assert s.moving is True
    apply_ping(s, at(6.5, 50.01 - deg_30m), NOW, rules)  # 5.5 min within 50 m of the 1-min fix
    assert s.moving is False and s.state_since == NOW + timedelta(minutes=1)
    apply_ping(s, at(7, 50.0105), NOW, rules)  # 55 m from the anchor: moving again
    assert s.moving is True and s.state_since == NOW + timedelta(minutes=6.5)
    assert s.battery_pct == 73 and s.last_fix.fix_time == NOW + timedelta(minutes=7)


def test_out_of_order_and_duplicate_fixes_do_not_rewind_state():
    s = BeaconState("b")
    rules = StopRules()
    apply_ping(s, at(10, 50.0), NOW + timedelta(minutes=10), rules)
    apply_ping(s, at(5, 51.0), NOW + timedelta(minutes=11), rules)   # late fix from a buffer
    apply_ping(s, at(10, 52.0), NOW + timedelta(minutes=12), rules)  # same fix time again
    assert s.last_fix.lat == 50.0 and s.last_seen == NOW + timedelta(minutes=12)


def test_preview_leaves_committed_states_alone():
    states = BeaconStates()
    first = states.preview([at(0, 50.0)], NOW, "json")
    states.commit(first)
    preview = states.preview([at(3, 50.0), at(1, 51.0)], NOW, "osmand")  # folded in fix-time order
    assert states.get("b").last_fix.fix_time == NOW and preview["b"].last_fix.fix_time == NOW + timedelta(minutes=3)
    assert preview["b"].protocol == "osmand" and states.get("b").protocol == "json"


def test_distance():
    assert distance_m(50.0, 1.8, 50.0, 1.8) == 0
    assert distance_m(50.9513, 1.8533, 51.1279, 1.3134) == pytest.approx(42_600, rel=0.02)  # Calais - Dover


def write(tmp_path: Path, text: str) -> Path:
    cfg = tmp_path / "configs" / "lapi.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(text)
    (tmp_path / "models").symlink_to(ROOT / "models")
    return cfg


def test_trackers_config_defaults_and_values(tmp_path):
    t = load_settings(ROOT / "configs" / "lapi.toml", env={}).trackers
    assert (t.teltonika_port, t.osmand_port, t.osmand_speed_unit, t.stop_radius_m) == (5027, 5055, "kn", 50.0)
    t = load_settings(write(tmp_path, "[trackers]\nteltonika_enabled = false\nmax_speed_kmh = 250\n"), env={}).trackers
    assert t.teltonika_enabled is False and t.max_speed_kmh == 250.0


@pytest.mark.parametrize("text,key", [
    ("[trackers]\nteltonika_port = 70000\n", "trackers.teltonika_port"),
    ('[trackers]\nteltonika_enabled = "yes"\n', "trackers.teltonika_enabled"),
    ("[trackers]\nosmand_enabled = 1\n", "trackers.osmand_enabled"),
    ('[trackers]\nosmand_speed_unit = "furlongs"\n', "trackers.osmand_speed_unit"),
    ("[trackers]\nstop_radius_m = 0\n", "trackers.stop_radius_m"),
    ("[trackers]\nsilence_alert_after_s = 1.5\n", "trackers.silence_alert_after_s"),
    ("[trackers]\nmax_future_skew = 10\n", "trackers.max_future_skew"),
    ('[trackers]\nlisten_host = ""\n', "trackers.listen_host"),
    ('trackers = 3\n', "trackers"),
])
def test_bad_trackers_config_names_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env={})
    assert str(err.value).startswith(key)
