"""Configuration of tracked cameras and video sources, checked at start-up with the key named.

``[reading.tracking]`` sets pass tracking for every camera (``enabled``, ``idle_s``,
``hit_confidence``, ``hit_min_frames``); a ``[[cameras]]`` table may opt in or out with
``tracking = true|false`` and may name a video ``source`` (``rtsp://``, ``http(s)://`` or a file
path) read at ``sample_fps``.  A camera with a source is tracked unless it says ``tracking = false``:
a stream read frame by frame would otherwise alert once per frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STREAM_CAMERA_KEYS = ("source", "sample_fps", "tracking")
_TRACKING_KEYS: dict[str, tuple[type, ...]] = {
    "enabled": (bool,), "idle_s": (int, float), "hit_confidence": (int, float), "hit_min_frames": (int,),
    "sweep_interval_s": (int, float)}
_TRACKING_RANGES = {"idle_s": (0.05, 3600.0), "hit_confidence": (0.0, 1.0), "hit_min_frames": (1, 1000),
                    "sweep_interval_s": (0.05, 60.0)}


class VideoConfigError(ValueError):
    """Invalid tracking or video source setting; the message starts with the key."""


@dataclass(frozen=True)
class TrackingSettings:
    """``[reading.tracking]`` plus each camera's own ``tracking`` choice."""

    enabled: bool = False            # for cameras that do not say
    idle_s: float = 2.0              # a pass with no read for this long (frame time) is closed
    hit_confidence: float = 0.9      # the running consensus must be this confident to raise a hit ...
    hit_min_frames: int = 2          # ... over at least this many reads (at close: whatever it has)
    sweep_interval_s: float = 1.0    # how often passes of cameras that went quiet are closed
    per_camera: Mapping[str, bool] = field(default_factory=dict)

    def enabled_for(self, camera_id: str) -> bool:
        return self.per_camera.get(camera_id, self.enabled)


@dataclass(frozen=True)
class StreamSettings:
    """One camera's video source."""

    camera_id: str
    source: str
    sample_fps: float = 5.0           # frames read per second of video; the rest are skipped
    reconnect_min_s: float = 0.5      # back-off after a lost stream: doubling from this ...
    reconnect_max_s: float = 30.0     # ... up to this

    @property
    def is_file(self) -> bool:
        return "://" not in self.source


def _check(key: str, value: Any, types: tuple[type, ...]) -> None:
    ok = isinstance(value, bool) if types == (bool,) else isinstance(value, types) and not isinstance(value, bool)
    if not ok:
        names = " or ".join(t.__name__ for t in types)
        raise VideoConfigError(f"{key}: must be {'true or false' if types == (bool,) else names}, got {value!r}")


def parse_tracking(raw: Any, cameras: Any = ()) -> TrackingSettings:
    """``reading.tracking`` and the cameras' ``tracking`` keys -> :class:`TrackingSettings`."""
    if not isinstance(raw, dict):
        raise VideoConfigError("reading.tracking: must be a table")
    for k, v in raw.items():
        if k not in _TRACKING_KEYS:
            raise VideoConfigError(f"reading.tracking.{k}: unknown key (known: {', '.join(_TRACKING_KEYS)})")
        _check(f"reading.tracking.{k}", v, _TRACKING_KEYS[k])
        if k in _TRACKING_RANGES:
            lo, hi = _TRACKING_RANGES[k]
            if not lo <= v <= hi:
                raise VideoConfigError(f"reading.tracking.{k}: must be between {lo:g} and {hi:g}, got {v!r}")
    per_camera = {}
    for i, cam in enumerate(cameras if isinstance(cameras, list) else []):
        if isinstance(cam, dict) and ("tracking" in cam or "source" in cam):
            if "tracking" in cam:
                _check(f"cameras[{i}].tracking", cam["tracking"], (bool,))
            per_camera[str(cam.get("id"))] = bool(cam.get("tracking", True))
    values = {k: float(v) if k in ("idle_s", "hit_confidence", "sweep_interval_s") else v for k, v in raw.items()}
    return TrackingSettings(**values, per_camera=per_camera)


def parse_streams(cameras: Any, base: Path) -> tuple[StreamSettings, ...]:
    """The ``source``/``sample_fps`` keys of ``[[cameras]]`` -> one :class:`StreamSettings` per source."""
    streams = []
    for i, cam in enumerate(cameras if isinstance(cameras, list) else []):
        if not isinstance(cam, dict):
            continue
        if "sample_fps" in cam:
            _check(f"cameras[{i}].sample_fps", cam["sample_fps"], (int, float))
            if not 0.1 <= cam["sample_fps"] <= 120:
                raise VideoConfigError(f"cameras[{i}].sample_fps: must be between 0.1 and 120, got {cam['sample_fps']!r}")
            if "source" not in cam:
                raise VideoConfigError(f"cameras[{i}].sample_fps: only with a source")
        if "source" not in cam:
            continue
        source = cam["source"]
        _check(f"cameras[{i}].source", source, (str,))
        if "://" in source:
            if not source.startswith(("rtsp://", "rtsps://", "http://", "https://")):
                raise VideoConfigError(f"cameras[{i}].source: rtsp://, http(s):// or a file path, got {source!r}")
        elif not source.strip():
            raise VideoConfigError(f"cameras[{i}].source: must not be empty")
        else:
            path = Path(source).expanduser()
            source = str(path if path.is_absolute() else (base / path).resolve())
        streams.append(StreamSettings(str(cam.get("id")), source, float(cam.get("sample_fps", 5.0))))
    return tuple(streams)


def without_stream_keys(cameras: Any) -> Any:
    """The ``[[cameras]]`` tables as :func:`lapi.config.parse_cameras` knows them (stream keys removed)."""
    if not isinstance(cameras, list):
        return cameras
    return [{k: v for k, v in c.items() if k not in STREAM_CAMERA_KEYS} if isinstance(c, dict) else c for c in cameras]
