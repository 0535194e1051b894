"""``lapi bench pipeline`` runs end to end: real service, real HTTP, real models, scratch database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_pipeline_pushes_every_frame_through_the_api(pg_server_url):
    """The service as deployed on a CPU that runs int8 (the recogniser's int8 path through HTTP), else fp32."""
    from lapi.reading import int8_features

    precision = "int8" if int8_features.engine_available() else "fp32"
    env = {**os.environ, "LAPI_DATABASE_URL": pg_server_url}
    out = subprocess.run([sys.executable, "-m", "lapi.cli", "bench", "pipeline", "--cameras", "3", "--frames", "2",
                          "--batch", "4", "--wait-ms", "50", "--synthetic", "--precision", precision, "--json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout)
    assert r["precision"] == precision
    assert r["frames"] == 6 and r["failures"] == 0
    assert r["frames_per_s"] > 0 and r["latency_ms_p50"] <= r["latency_ms_p99"]
    assert 1 <= r["mean_batch"] <= 4
    assert r["mean_batch"] > 1  # three cameras at once within 50 ms: frames share batches
    assert r["plate_found"] >= 0.5  # synthetic scenes read by the shipped models


def test_bench_pipeline_refuses_bad_arguments(pg_server_url):
    out = subprocess.run([sys.executable, "-m", "lapi.cli", "bench", "pipeline", "--cameras", "0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "cameras" in out.stderr
    out = subprocess.run([sys.executable, "-m", "lapi.cli", "bench", "pipeline", "--precision", "fp16"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "precision: one of fp32, bf16, int8 or auto" in out.stderr
