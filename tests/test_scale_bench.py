"""``lapi bench store`` (issue 10): the synthetic distributions, and a small run on a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone

import numpy as np

from conftest import ROOT
from lapi.bench_store import HOURLY_PROFILE, network, plate_of, synthetic_reads
from lapi.plates import normalise_plate

START = datetime(2026, 8, 25, tzinfo=timezone.utc)


def test_plates_are_stable_valid_and_mostly_french_siv():
    plates = [plate_of(i) for i in range(20_000)]
    assert plates[123] == plate_of(123)
    assert all(normalise_plate(text) == norm for text, norm in plates)
    assert len({norm for _, norm in plates}) > 19_900  # distinct vehicles, distinct plates
    siv = sum(1 for text, _ in plates if len(text) == 9 and text[2] == "-" and text[6] == "-" and text[0].isalpha())
    assert 0.85 < siv / len(plates) < 0.95


def test_reads_come_in_time_order_with_day_night_and_skewed_vehicles():
    net = network(100_000, 50, seed=1)
    batches = list(synthetic_reads(net, 100_000, START, 10, seed=1, batch=30_000))
    assert [len(b[0]) for b in batches] == [30_000, 30_000, 30_000, 10_000]
    t = np.concatenate([b[0] for b in batches])
    assert np.all(np.diff(t) >= 0) and START.timestamp() <= t[0] and t[-1] < START.timestamp() + 10 * 86400
    hours = Counter(((t - START.timestamp()) // 3600 % 24).astype(int).tolist())
    assert hours[8] > 5 * hours[3]  # the morning peak against the night
    assert HOURLY_PROFILE[8] > HOURLY_PROFILE[3]
    vehicles = Counter(np.concatenate([b[2] for b in batches]).tolist())
    counts = sorted(vehicles.values(), reverse=True)
    assert counts[0] > 40 and sum(1 for c in counts if c == 1) > len(counts) / 3  # commuters and one-offs
    cams = Counter(np.concatenate([b[1] for b in batches]).tolist())
    assert max(cams.values()) > 5 * min(cams.values())  # busy and quiet sites


def test_bench_store_runs_on_a_real_server(pg_server_url):
    out = subprocess.run([sys.executable, "-m", "lapi.cli", "bench", "store", "--n", "6000", "--days", "3",
                          "--cameras", "20", "--batch", "500", "--writers", "2", "--insert-n", "300", "--frames-n", "500",
                          "--queries", "20", "--database-url", pg_server_url, "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["reads"] == 6000 and r["copy_rows_per_s"] > r["insert_rows_per_s"] > 0
    assert r["writers"] == 2 and r["encoding_rows_per_s"] > 0 and r["copy_with_encoding_rows_per_s"] < r["copy_rows_per_s"]
    assert r["copy_vs_insert"] > 1 and r["store_frames_reads_per_s"] > 0
    assert 0 < r["history_p50_ms"] <= r["history_p99_ms"] and r["history_queries"] == 20
    assert 0 < r["history_uniform_p50_ms"] <= r["history_uniform_p99_ms"] <= r["history_max_ms"]
    assert r["convoy_plate_passages"] > 0 and r["convoy_ms"] > 0
    assert r["checkpoint_after_load_s"] >= 0  # the test server's user is a superuser
    assert 0 < r["history_after_checkpoint_p50_ms"] <= r["history_after_checkpoint_p99_ms"] \
        <= r["history_after_checkpoint_max_ms"]
    assert 100 < r["bytes_per_read"] < 5000
    # the plate-day summary caught up with the loaded days (3, the INSERT sample's, the frames sample's)
    assert r["plate_days_days"] >= 4 and 0 < r["plate_days_rows"] < 6800 and r["plate_days_bytes_per_read"] > 0
    assert r["plate_days_build_s"] >= 0
    assert 0 < r["history_without_summary_p50_ms"] <= r["history_without_summary_p99_ms"] \
        <= r["history_without_summary_max_ms"]
    if r.get("history_index_in_memory_skipped"):  # a server without contrib's pg_prewarm says so
        assert "pg_prewarm" in r["history_index_in_memory_skipped"] and r["history_index_in_memory_p99_ms"] is None
    else:
        assert 0 < r["history_index_in_memory_p50_ms"] <= r["history_index_in_memory_p99_ms"]
        assert r["plate_index_bytes"] > 0


def test_bench_store_refuses_silly_sizes():
    out = subprocess.run([sys.executable, "-m", "lapi.cli", "bench", "store", "--n", "10"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--n must be >= 1000" in out.stderr
    out = subprocess.run([sys.executable, "-m", "lapi.cli", "bench", "store", "--writers", "0"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--writers must be between 1 and 16" in out.stderr


def test_bench_store_report_says_why_a_figure_is_missing():
    """A server without pg_prewarm or CHECKPOINT rights: the report names the reason, not a crash."""
    from lapi.bench_store import _after_checkpoint_line, _index_in_memory_line

    skipped = {"history_after_checkpoint_p99_ms": None, "history_after_checkpoint_skipped": "CHECKPOINT refused: x",
               "history_index_in_memory_p99_ms": None, "history_index_in_memory_skipped": "pg_prewarm unavailable: y"}
    assert _after_checkpoint_line(skipped).endswith("not measured (CHECKPOINT refused: x)")
    assert _index_in_memory_line(skipped).endswith("not measured (pg_prewarm unavailable: y)")
    measured = {"checkpoint_after_load_s": 0.5, "history_after_checkpoint_p50_ms": 1.0,
                "history_after_checkpoint_p99_ms": 2.0, "history_after_checkpoint_max_ms": 3.0}
    assert _after_checkpoint_line(measured) == ("plate history after a CHECKPOINT (0.5 s, written out the load; other "
                                                "plates, still cold): p50 1.0 ms, p99 2.0 ms, max 3.0 ms")
