"""``[retention]`` and ``[limits]``: how long reads are kept, and the bounds on what the API takes in.

Parsed here, validated naming the key (``retention.non_hit_reads: ...``); :mod:`lapi.config` turns
the ValueError into a ConfigError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from lapi.retention import LEGAL_MAX_HIT, LEGAL_MAX_NON_HIT, RetentionRules, parse_duration


@dataclass(frozen=True)
class RetentionSettings:
    enabled: bool = True
    rules: RetentionRules = field(default_factory=RetentionRules)
    run_every: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class LimitSettings:
    """Bounds on input (hostile or just broken clients) and on the work queued in memory."""

    max_json_bytes: int = 1024 * 1024       # any JSON or CSV body (frames have server.max_frame_bytes)
    max_ping_batch: int = 1000              # pings in one POST /v1/pings
    max_image_pixels: int = 40_000_000      # width x height read from the image header, before decoding
    max_image_side: int = 12_000            # pixels, either side
    pending_frames: int = 16                # frames received and waiting for the reader; more: 429
    pending_pings: int = 50_000             # pings waiting for the writer; more: 429
    retry_after_s: int = 1                  # the Retry-After of a 429


_RETENTION_KEYS = {"enabled": (bool,), "non_hit_reads": (str, int), "hit_reads": (str, int), "run_every": (str, int)}
_LIMIT_RANGES = {"max_json_bytes": (1024, 64 * 1024 * 1024), "max_ping_batch": (1, 100_000),
                 "max_image_pixels": (10_000, 500_000_000), "max_image_side": (100, 100_000),
                 "pending_frames": (1, 10_000), "pending_pings": (100, 10_000_000), "retry_after_s": (1, 3600)}


def _table(name: str, raw: Any, known: dict) -> dict:
    if not isinstance(raw, dict):
        raise ValueError(f"{name}: must be a table")
    for key in raw:
        if key not in known:
            raise ValueError(f"{name}.{key}: unknown key (known: {', '.join(known)})")
    return raw


def _bounded(key: str, value: timedelta, lo: timedelta, hi: timedelta, why: str = "") -> timedelta:
    if not lo <= value <= hi:
        raise ValueError(f"{key}: must be between {lo} and {hi}{why}, got {value}")
    return value


def parse_retention(raw: Any) -> RetentionSettings:
    raw = _table("retention", raw, _RETENTION_KEYS)
    for key, types in _RETENTION_KEYS.items():
        if key in raw and (not isinstance(raw[key], types) or (bool not in types and isinstance(raw[key], bool))):
            raise ValueError(f"retention.{key}: must be {' or '.join(t.__name__ for t in types)}, got {raw[key]!r}")
    hour = timedelta(hours=1)
    non_hit = _bounded("retention.non_hit_reads", parse_duration("retention.non_hit_reads", raw.get("non_hit_reads", "15d")),
                       hour, LEGAL_MAX_NON_HIT, " (reads that matched nothing: at most 15 days, CSI L233-2)")
    hit = _bounded("retention.hit_reads", parse_duration("retention.hit_reads", raw.get("hit_reads", "30d")),
                   hour, LEGAL_MAX_HIT, " (hit reads: one month, unless attached to a procedure)")
    every = _bounded("retention.run_every", parse_duration("retention.run_every", raw.get("run_every", "1h")),
                     timedelta(minutes=1), timedelta(days=1))
    return RetentionSettings(raw.get("enabled", True), RetentionRules(non_hit, hit), every)


def parse_limits(raw: Any) -> LimitSettings:
    raw = _table("limits", raw, _LIMIT_RANGES)
    for key, (lo, hi) in _LIMIT_RANGES.items():
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"limits.{key}: must be an integer, got {value!r}")
            if not lo <= value <= hi:
                raise ValueError(f"limits.{key}: must be between {lo} and {hi}, got {value}")
    limits = LimitSettings(**raw)
    if limits.pending_pings < limits.max_ping_batch:
        raise ValueError(f"limits.pending_pings: must be at least limits.max_ping_batch ({limits.max_ping_batch}), "
                         f"or a full batch could never be taken, got {limits.pending_pings}")
    return limits
