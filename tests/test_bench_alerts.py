"""`lapi bench alerts` runs end to end (real service, real WebSocket consumer with a consumer token)."""

from __future__ import annotations


def test_bench_alerts_delivers_every_hit(pg_server_url):
    from lapi.bench_alerts import bench_alerts

    result = bench_alerts(rate=20, seconds=1, entries=50, database_url=pg_server_url)
    assert result["store_failures"] == 0
    assert result["hits_stored"] > 0
    assert result["alerts_received"] == result["hits_stored"] and result["lost"] == 0
