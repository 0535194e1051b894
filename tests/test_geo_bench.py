"""The geo benches run end to end on a scratch database and count what they load (small sizes)."""

from lapi.bench_geo import route_observations, run_convoy_bench, run_route_bench
from datetime import datetime, timezone


def test_route_observations_add_up_to_n():
    pings, reads = route_observations(1234, datetime(2026, 11, 20, tzinfo=timezone.utc))
    assert len(pings) + len(reads) == 1234 and len(reads) >= 6


def test_bench_route_reads_back_every_observation(pg_server_url):
    r = run_route_bench(observations=1500, repeats=1, database_url=pg_server_url)
    assert r["observations"] == 1500 and r["pings"] + r["sightings"] == 1500
    assert r["trips"] >= 2 and r["points"] == "compact" and r["geojson_bytes"] > 1500 * 100
    assert r["geojson_full_bytes"] > r["geojson_bytes"] > r["geojson_none_bytes"] > 1500 * 2 * 8   # lon, lat each
    assert r["total_ms"] >= r["build_ms"] > 0 and r["geojson_full_ms"] > 0


def test_bench_convoy_finds_the_planted_companion(pg_server_url):
    r = run_convoy_bench(sightings=20_000, repeats=1, database_url=pg_server_url)
    assert abs(r["sightings"] - 20_000) < 1000 and r["passages"] >= 6
    assert r["top_is_companion"] and r["query_ms"] > 0
