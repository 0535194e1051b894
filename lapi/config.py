"""Service configuration: a TOML file plus environment overrides, validated at start-up.

Every error names the key (``server.port: must be ...``) so a bad deployment fails at once with a
message an operator can act on, not with a traceback later.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from lapi import grammars
from lapi.cameras import Camera
from lapi.investigations.settings import InvestigationSettings, parse_investigations
from lapi.reading import PRECISIONS, int8_activation_scales
from lapi.security_config import LimitSettings, RetentionSettings
from lapi.video_config import parse_streams, parse_tracking, without_stream_keys

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "lapi.toml"


class ConfigError(ValueError):
    """Invalid configuration; the message starts with the offending key."""


@dataclass(frozen=True)
class TrackerSettings:
    """``[trackers]``: GPS beacon protocols, ping validation, stop detection, silence alerts."""

    listen_host: str | None = None      # None: the same host as the HTTP API (server.host)
    teltonika_enabled: bool = True
    teltonika_port: int = 5027          # Traccar's port for Teltonika, so devices move over unchanged
    osmand_enabled: bool = True         # also served at /v1/osmand on the API port
    osmand_port: int = 5055             # Traccar's OsmAnd port (0: API port only)
    osmand_speed_unit: str = "kn"       # knots, as Traccar Client sends
    max_future_skew_s: int = 300
    max_speed_kmh: float = 400.0
    accept_unknown_beacons: bool = True
    stop_radius_m: float = 50.0
    stop_min_duration_s: int = 300
    silence_alert_after_s: int = 1800
    silence_check_interval_s: int = 60
    idle_timeout_s: int = 900


DEFAULT_ZONES = PROJECT_ROOT / "configs" / "departure_zones.geojson"
DEFAULT_COASTLINE = PROJECT_ROOT / "configs" / "coastline.geojson"


@dataclass(frozen=True)
class GeoSettings:
    """``[geo]``: departure zones, trip splitting, approach alerts, the co-travel standing rule."""

    departure_zones: Path = DEFAULT_ZONES
    zones: Any = None                     # geo.zones.ZoneSet loaded from departure_zones (None: not yet)
    trip_gap_s: int = 1800                # a longer gap between observations starts a new trip
    max_plausible_kmh: float = 200.0      # a hop implying more is flagged implausible
    approach_alerts: bool = True
    approach_distance_m: float = 10_000.0  # alert when a watched vehicle closing in is this near a zone ...
    approach_eta_s: int = 1200            # ... and expected there within this many seconds
    approach_recent_s: int = 900          # observations this recent give the speed and the trend
    cotravel_alerts: bool = True
    cotravel_k: int = 3                   # distinct cameras shared with a watched vehicle ...
    cotravel_dt_s: int = 120              # ... each within this many seconds of it
    cotravel_window_s: int = 3600         # how far back the standing rule looks
    cotravel_min_score: float = 1.0       # -log10 of the expected chance matches (1.0: 1 in 10)
    cotravel_check_interval_s: int = 60
    base_layer: Path | None = None        # the analysts' own GeoJSON map layer (roads, coast), drawn by the console
    base_layer_doc: Any = None            # its parsed GeoJSON, checked at start-up
    coastline: Path | None = DEFAULT_COASTLINE  # the coast the console draws under zones and routes (None: none)
    coastline_doc: Any = None             # its parsed GeoJSON, checked at start-up (None: not yet loaded)


@dataclass(frozen=True)
class AlertSettings:
    """``[alerts]``: watchlist default threshold and where hit alerts are delivered (see lapi/delivery)."""

    default_max_cost: float = 0.8        # threshold of lists created without one
    poll_interval_s: float = 1.0         # outbox re-read this often even without a notification
    claim_lease_s: float = 60.0          # a delivery claimed by a process that died is retried after this
    webhooks: tuple[Any, ...] = ()       # lapi.delivery.webhook.WebhookSettings
    mqtt: Any = None                     # lapi.delivery.mqtt.MqttSettings, None: no MQTT


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    max_frame_bytes: int = 20 * 1024 * 1024
    database_url: str | None = None  # None: embedded PostgreSQL
    data_dir: Path = PROJECT_ROOT / "data"
    compress_after: timedelta = timedelta(days=2)  # TimescaleDB: chunks older than this are compressed
    detector_dir: Path = PROJECT_ROOT / "models" / "detector"
    recognizer_config: Path = PROJECT_ROOT / "models" / "ocr" / "lapi_plate_g2.json"
    device: str = "cpu"
    max_plates_per_frame: int = 8
    reading_threads: int = 1
    # frames of every camera gather into batches of at most this many, waiting at most this long
    batch_max_frames: int = 8
    batch_max_wait_ms: float = 2.0
    device_crops: bool | None = None  # plates cut and resized on the device; None: on a GPU only
    precision: str = "fp32"  # recogniser network: fp32, bf16, int8 (close plates again in fp32) or auto
    # reads below these confidences are dropped (most are text on the car body, signs, foliage)
    min_confidence: float = 0.6
    min_confidence_generic: float = 0.8  # reads that fit no known plate format need more
    # a frame with no read is looked at again turned by these angles (hand-held photos roll plates)
    retry_rotations: tuple[float, ...] = (-20.0, -15.0, -10.0, 10.0, 15.0, 20.0)
    # ... and at these other detector input sizes (the detector misses some plates at one scale)
    retry_sizes: tuple[int, ...] = (480, 960)
    # plate formats decoded into and their priors; empty: plain greedy decoding, no grammar
    country_weights: dict[str, float] = field(default_factory=lambda: dict(grammars.COUNTRY_PRIORS))
    cameras: tuple[Camera, ...] = field(default_factory=tuple)
    trackers: TrackerSettings = field(default_factory=TrackerSettings)
    geo: GeoSettings = field(default_factory=GeoSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    investigations: InvestigationSettings = field(default_factory=InvestigationSettings)
    tracking: Any = None                 # lapi.video_config.TrackingSettings ([reading.tracking], per camera)
    streams: tuple[Any, ...] = ()        # lapi.video_config.StreamSettings: cameras with a video source


_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "server": {"host": str, "port": int, "max_frame_bytes": int},
    "store": {"database_url": str, "data_dir": str, "compress_after": (str, int)},
    "reading": {"detector_dir": str, "recognizer_config": str, "device": str,
                "max_plates_per_frame": int, "reading_threads": int, "countries": dict, "tracking": dict,
                "batch_max_frames": int, "batch_max_wait_ms": (int, float), "device_crops": (bool, str),
                "precision": str,
                "min_confidence": (int, float), "min_confidence_generic": (int, float), "retry_rotations": list,
                "retry_sizes": list},
}
_TRACKER_KEYS: dict[str, type | tuple[type, ...]] = {
    "listen_host": str, "teltonika_enabled": bool, "teltonika_port": int, "osmand_enabled": bool,
    "osmand_port": int, "osmand_speed_unit": str, "max_future_skew_s": int, "max_speed_kmh": (int, float),
    "accept_unknown_beacons": bool, "stop_radius_m": (int, float), "stop_min_duration_s": int,
    "silence_alert_after_s": int, "silence_check_interval_s": int, "idle_timeout_s": int}
_TRACKER_RANGES = {"teltonika_port": (0, 65535), "osmand_port": (0, 65535), "max_future_skew_s": (0, 86400),
                   "max_speed_kmh": (1, 2000), "stop_radius_m": (1, 100000), "stop_min_duration_s": (1, 86400),
                   "silence_alert_after_s": (10, 30 * 86400), "silence_check_interval_s": (1, 86400),
                   "idle_timeout_s": (10, 86400)}
_GEO_KEYS: dict[str, type | tuple[type, ...]] = {
    "departure_zones": str, "trip_gap_s": int, "max_plausible_kmh": (int, float), "approach_alerts": bool,
    "approach_distance_m": (int, float), "approach_eta_s": int, "approach_recent_s": int, "cotravel_alerts": bool,
    "cotravel_k": int, "cotravel_dt_s": int, "cotravel_window_s": int, "cotravel_min_score": (int, float),
    "cotravel_check_interval_s": int, "base_layer": str, "coastline": str}
_GEO_RANGES = {"trip_gap_s": (60, 7 * 86400), "max_plausible_kmh": (10, 1000), "approach_distance_m": (0, 200_000),
               "approach_eta_s": (0, 86400), "approach_recent_s": (60, 86400), "cotravel_k": (2, 50),
               "cotravel_dt_s": (1, 3600), "cotravel_window_s": (60, 7 * 86400), "cotravel_min_score": (-10, 100),
               "cotravel_check_interval_s": (1, 86400)}
_SECTIONS = ("trackers", "geo", "alerts", "retention", "limits", "investigations", "cameras")
_CAMERA_KEYS = {"id": str, "name": str, "lat": (int, float), "lon": (int, float), "heading": (int, float), "road": str}


def _check_type(key: str, value: Any, expected: type | tuple[type, ...]) -> None:
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")
        return
    types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool in types:  # true/false of a key that also takes "auto"
        return
    if isinstance(value, bool) or not isinstance(value, expected):  # bool is an int to Python, not to TOML
        names = " or ".join(t.__name__ for t in types)
        raise ConfigError(f"{key}: must be {names}, got {value!r}")


def _duration(key: str, value: Any, lo: timedelta, hi: timedelta) -> timedelta:
    """A duration key ("2d", "36h", or seconds) within [lo, hi]."""
    from lapi.retention import describe, parse_duration

    try:
        d = parse_duration(key, value)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if not lo <= d <= hi:
        raise ConfigError(f"{key}: must be between {describe(lo)} and {describe(hi)}, got {describe(d)}")
    return d


def _retry_rotations(values: list) -> tuple[float, ...]:
    """reading.retry_rotations: at most 8 distinct non-zero angles within +-45 degrees."""
    key = "reading.retry_rotations"
    if len(values) > 8:
        raise ConfigError(f"{key}: at most 8 angles (each costs a detector pass on a frame with no read), got {len(values)}")
    angles = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: angles must be numbers of degrees, got {value!r}")
        if not -45 <= value <= 45 or value == 0:
            raise ConfigError(f"{key}: each angle must be non-zero and within -45..45 degrees, got {value}")
        if float(value) in angles:
            raise ConfigError(f"{key}: angle {value} is listed twice")
        angles.append(float(value))
    return tuple(angles)


def _retry_sizes(values: list) -> tuple[int, ...]:
    """reading.retry_sizes: at most 4 distinct detector input sizes, multiples of 32 within 256..1920."""
    key = "reading.retry_sizes"
    if len(values) > 4:
        raise ConfigError(f"{key}: at most 4 sizes (each costs a detector pass on a frame with no read), got {len(values)}")
    sizes: list[int] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: sizes must be whole numbers of pixels, got {value!r}")
        if not 256 <= value <= 1920 or value % 32:
            raise ConfigError(f"{key}: each size must be a multiple of 32 within 256..1920 (the detector's stride), got {value}")
        if value in sizes:
            raise ConfigError(f"{key}: size {value} is listed twice")
        sizes.append(value)
    return tuple(sizes)


def _range(key: str, value: int | float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ConfigError(f"{key}: must be between {lo:g} and {hi:g}, got {value!r}")


def _path(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def parse_cameras(raw: Any) -> tuple[Camera, ...]:
    if not isinstance(raw, list):
        raise ConfigError("cameras: must be an array of tables ([[cameras]])")
    cams, seen = [], set()
    for i, item in enumerate(raw):
        key = f"cameras[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{key}: must be a table")
        for k in item:
            if k not in _CAMERA_KEYS:
                raise ConfigError(f"{key}.{k}: unknown key (known: {', '.join(_CAMERA_KEYS)})")
            _check_type(f"{key}.{k}", item[k], _CAMERA_KEYS[k])
        if "id" not in item:
            raise ConfigError(f"{key}.id: is required")
        if item["id"] in seen:
            raise ConfigError(f"{key}.id: duplicate camera id {item['id']!r}")
        seen.add(item["id"])
        if "lat" in item:
            _range(f"{key}.lat", item["lat"], -90, 90)
        if "lon" in item:
            _range(f"{key}.lon", item["lon"], -180, 180)
        if "heading" in item:
            _range(f"{key}.heading", item["heading"], 0, 359.999)
        cams.append(Camera(id=item["id"], name=item.get("name", ""), lat=item.get("lat"), lon=item.get("lon"),
                           heading=item.get("heading"), road=item.get("road", "")))
    return tuple(cams)


def parse_trackers(raw: Any) -> TrackerSettings:
    """``[trackers]`` -> :class:`TrackerSettings`; every error names the key."""
    if not isinstance(raw, dict):
        raise ConfigError("trackers: must be a table")
    _check_table("trackers", raw, _TRACKER_KEYS, _TRACKER_RANGES)
    from trackers.osmand import SPEED_UNITS_KMH

    if raw.get("osmand_speed_unit", "kn") not in SPEED_UNITS_KMH:
        raise ConfigError(f"trackers.osmand_speed_unit: must be one of {', '.join(SPEED_UNITS_KMH)}, "
                          f"got {raw['osmand_speed_unit']!r}")
    if raw.get("listen_host") == "":
        raise ConfigError("trackers.listen_host: must not be empty (leave it out to use server.host)")
    values = {k: float(v) if k in ("max_speed_kmh", "stop_radius_m") else v for k, v in raw.items()}
    return TrackerSettings(**values)


def parse_geo(raw: Any, base: Path) -> GeoSettings:
    """``[geo]`` -> :class:`GeoSettings` with its departure zones loaded and validated."""
    from geo.zones import ZoneError, load_zones

    if not isinstance(raw, dict):
        raise ConfigError("geo: must be a table")
    _check_table("geo", raw, _GEO_KEYS, _GEO_RANGES)
    values = {k: float(v) if k in ("max_plausible_kmh", "approach_distance_m", "cotravel_min_score") else v
              for k, v in raw.items()}
    if "departure_zones" in raw:
        if not raw["departure_zones"].strip():
            raise ConfigError("geo.departure_zones: must be a path to a GeoJSON file")
        values["departure_zones"] = _path(base, raw["departure_zones"])
    path = values.get("departure_zones", DEFAULT_ZONES)
    try:
        values["zones"] = load_zones(path)
    except ZoneError as err:
        raise ConfigError(f"geo.departure_zones: {err}") from None
    if "base_layer" in raw:
        from lapi.console.base_layer import BaseLayerError, load_base_layer

        values["base_layer"] = _path(base, raw["base_layer"])
        try:
            values["base_layer_doc"] = load_base_layer(values["base_layer"])
        except BaseLayerError as err:
            raise ConfigError(f"geo.base_layer: {err}") from None
    _load_coastline(raw, base, values)
    return GeoSettings(**values)


def _load_coastline(raw: dict, base: Path, values: dict) -> None:
    """``[geo] coastline``: the shipped approximate line by default, the user's file, or "" for none."""
    from lapi.console.base_layer import BaseLayerError, load_base_layer

    if "coastline" in raw:
        values["coastline"] = _path(base, raw["coastline"]) if raw["coastline"].strip() else None
    path = values.get("coastline", DEFAULT_COASTLINE)
    if path is None:
        return
    try:
        values["coastline_doc"] = load_base_layer(path)
    except BaseLayerError as err:
        raise ConfigError(f"geo.coastline: {err} (\"\" draws no coastline)") from None


_RETRY_KEYS = {"max_attempts": int, "retry_base_s": (int, float), "retry_max_s": (int, float)}
_RETRY_RANGES = {"max_attempts": (1, 100), "retry_base_s": (0.01, 3600), "retry_max_s": (0.01, 7 * 86400)}
_FILTER_KEYS = {"lists": list, "categories": list, "cameras": list, "min_priority": int}
_ALERT_KEYS = {"default_max_cost": (int, float), "poll_interval_s": (int, float), "claim_lease_s": (int, float),
               "webhooks": list, "mqtt": dict, **_RETRY_KEYS}
_ALERT_RANGES = {"poll_interval_s": (0.05, 60), "claim_lease_s": (1, 3600), **_RETRY_RANGES}
_WEBHOOK_KEYS = {"name": str, "url": str, "secret": str, "secret_env": str, "timeout_s": (int, float),
                 **_FILTER_KEYS, **_RETRY_KEYS}
_MQTT_KEYS = {"enabled": bool, "name": str, "host": str, "port": int, "topic_prefix": str, "client_id": str,
              "username": str, "password": str, "password_env": str, "timeout_s": (int, float),
              **_FILTER_KEYS, **_RETRY_KEYS}


def _check_table(key: str, table: dict, known: dict, ranges: dict) -> None:
    for k, v in table.items():
        if k not in known:
            raise ConfigError(f"{key}.{k}: unknown key (known: {', '.join(known)})")
        _check_type(f"{key}.{k}", v, known[k])
        if k in ranges:
            _range(f"{key}.{k}", v, *ranges[k])


def _alert_filter(key: str, table: dict) -> Any:
    from lapi.alerts import AlertFilter

    for k in ("lists", "categories", "cameras"):
        if not all(isinstance(x, str) and x for x in table.get(k, [])):
            raise ConfigError(f"{key}.{k}: must be an array of non-empty strings")
    _range(f"{key}.min_priority", table.get("min_priority", 1), 1, 5)
    return AlertFilter.of(table.get("lists"), table.get("categories"), table.get("cameras"), table.get("min_priority", 1))


def _retry(table: dict, defaults: Any) -> Any:
    from lapi.delivery.retry import RetryPolicy

    return RetryPolicy(table.get("max_attempts", defaults.max_attempts),
                       float(table.get("retry_base_s", defaults.base_s)), float(table.get("retry_max_s", defaults.max_s)))


def _secret(key: str, table: dict, name: str, env: dict[str, str], required: bool) -> str | None:
    """A secret from the file (``name``) or from the environment variable named by ``name_env``."""
    if name in table and f"{name}_env" in table:
        raise ConfigError(f"{key}.{name}: give {name} or {name}_env, not both")
    if f"{name}_env" in table:
        value = env.get(table[f"{name}_env"])
        if not value:
            raise ConfigError(f"{key}.{name}_env: environment variable {table[f'{name}_env']} is not set")
        return value
    if name in table:
        return table[name]
    if required:
        raise ConfigError(f"{key}.{name}: is required (or {name}_env naming an environment variable)")
    return None


def parse_alerts(raw: Any, env: dict[str, str]) -> AlertSettings:
    """``[alerts]``, ``[[alerts.webhooks]]`` and ``[alerts.mqtt]`` -> :class:`AlertSettings`; errors name the key."""
    from lapi.delivery.mqtt import MqttSettings
    from lapi.delivery.retry import RetryPolicy
    from lapi.delivery.webhook import WebhookSettings

    if not isinstance(raw, dict):
        raise ConfigError("alerts: must be a table")
    _check_table("alerts", raw, _ALERT_KEYS, _ALERT_RANGES)
    max_cost = raw.get("default_max_cost", AlertSettings.default_max_cost)
    if not 0 <= max_cost < 2:
        raise ConfigError(f"alerts.default_max_cost: must be >= 0 and < 2, got {max_cost!r}")
    defaults = _retry(raw, RetryPolicy())
    webhooks, names = [], set()
    for i, hook in enumerate(raw.get("webhooks", [])):
        key = f"alerts.webhooks[{i}]"
        if not isinstance(hook, dict):
            raise ConfigError(f"{key}: must be a table ([[alerts.webhooks]])")
        _check_table(key, hook, _WEBHOOK_KEYS, {"timeout_s": (0.1, 300), **_RETRY_RANGES})
        name = hook.get("name", "")
        if not name or not all(c.isalnum() or c in "_.-" for c in name):
            raise ConfigError(f"{key}.name: required, letters, digits, '_', '.', '-'")
        if name in names:
            raise ConfigError(f"{key}.name: duplicate webhook name {name!r}")
        names.add(name)
        url = hook.get("url", "")
        if not url.startswith(("http://", "https://")) or len(url) < 10:
            raise ConfigError(f"{key}.url: must be an http:// or https:// URL, got {url!r}")
        secret = _secret(key, hook, "secret", env, required=True)
        if len(secret) < 16:
            raise ConfigError(f"{key}.secret: at least 16 characters (it signs every alert)")
        webhooks.append(WebhookSettings(name, url, secret, _alert_filter(key, hook), float(hook.get("timeout_s", 10)),
                                        _retry(hook, defaults)))
    mqtt = None
    table = raw.get("mqtt")
    if table is not None:
        _check_table("alerts.mqtt", table, _MQTT_KEYS, {"port": (1, 65535), "timeout_s": (0.1, 300), **_RETRY_RANGES})
        prefix = table.get("topic_prefix", "lapi/alerts")
        if not prefix or any(c in prefix for c in "+#") or prefix.startswith("/"):
            raise ConfigError(f"alerts.mqtt.topic_prefix: no '+', '#' or leading '/', got {prefix!r}")
        if not table.get("host", "127.0.0.1"):
            raise ConfigError("alerts.mqtt.host: must not be empty")
        if table.get("enabled", True):
            mqtt = MqttSettings(table.get("name", "broker"), table.get("host", "127.0.0.1"), table.get("port", 1883),
                                prefix, table.get("client_id") or None, table.get("username"),
                                _secret("alerts.mqtt", table, "password", env, required=False),
                                float(table.get("timeout_s", 10)), _alert_filter("alerts.mqtt", table),
                                _retry(table, defaults))
    return AlertSettings(float(max_cost), float(raw.get("poll_interval_s", 1.0)), float(raw.get("claim_lease_s", 60)),
                         tuple(webhooks), mqtt)


def parse_country_weights(raw: Any) -> dict[str, float]:
    """``reading.countries``: ISO code -> prior weight (> 0) of plates from that country."""
    weights: dict[str, float] = {}
    for code, weight in raw.items():
        key = f"reading.countries.{code}"
        if code.upper() not in grammars.FORMATS:
            raise ConfigError(f"{key}: unknown country (known: {', '.join(grammars.FORMATS)})")
        _check_type(key, weight, (int, float))
        if not 0 < weight <= 1000:
            raise ConfigError(f"{key}: must be a weight > 0, got {weight!r}")
        weights[code.upper()] = float(weight)
    return weights


def _video(parse: Any) -> Any:
    """Tracking and video source settings (lapi/video_config.py), their errors as ConfigError."""
    from lapi.video_config import VideoConfigError

    try:
        return parse()
    except VideoConfigError as err:
        raise ConfigError(str(err)) from None


def _security(parse: Any) -> Any:
    """``[retention]`` / ``[limits]`` (lapi/security_config.py), their errors as ConfigError."""
    from lapi import security_config

    try:
        return parse(security_config)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _check_int8(device: str, recognizer_config: Path) -> None:
    """int8 reading needs a CPU and a model calibrated for it: said at start-up, not at the first frame."""
    if device != "cpu":
        raise ConfigError(f'reading.precision: "int8" runs on a CPU only (reading.device is {device!r})')
    try:
        model = json.loads(recognizer_config.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"reading.recognizer_config: {recognizer_config} is not a model's JSON ({exc})") from exc
    try:
        scales = int8_activation_scales(model, recognizer_config.name) if isinstance(model, dict) else None
    except ValueError as exc:
        raise ConfigError(f"reading.recognizer_config: {exc}") from exc
    if not scales:
        raise ConfigError(f'reading.precision: "int8" needs int8.activation_scales in {recognizer_config.name}'
                          " (models/calibrate_int8.py)")


def _check_bf16_cpu() -> None:
    """bfloat16 on a CPU that oneDNN cannot run it on: said at start-up, not at the first frame."""
    from lapi.reading.recognizer import cpu_runs_bf16  # torch: only when bf16 on a CPU is asked for

    if not cpu_runs_bf16():
        raise ConfigError('reading.precision: "bf16" needs a CPU with AVX-512 (oneDNN\'s bfloat16 path) and this'
                          ' one has none: use "fp32", "int8" or "auto"')


def load_settings(path: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read ``path`` (default ``configs/lapi.toml``) then apply ``LAPI_*`` environment overrides."""
    env = dict(os.environ if env is None else env)
    path = Path(env.get("LAPI_CONFIG", "")) if path is None and env.get("LAPI_CONFIG") else (path or DEFAULT_CONFIG)
    if not path.exists():
        raise ConfigError(f"config file: {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file: {path} is not valid TOML: {err}") from None
    base = path.parent.parent if path.parent.name == "configs" else path.parent

    for section in raw:
        if section not in _SCHEMA and section not in _SECTIONS:
            raise ConfigError(f"{section}: unknown section (known: {', '.join([*_SCHEMA, *_SECTIONS])})")
    values: dict[str, Any] = {}
    for section, keys in _SCHEMA.items():
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{section}: must be a table")
        for k, v in table.items():
            if section == "reading" and k == "bf16_features":
                raise ConfigError('reading.bf16_features: replaced by reading.precision ("fp32", "bf16", "int8" or "auto")')
            if k not in keys:
                raise ConfigError(f"{section}.{k}: unknown key (known: {', '.join(keys)})")
            _check_type(f"{section}.{k}", v, keys[k])
            values[k] = v

    overrides = {"LAPI_HOST": "host", "LAPI_PORT": "port", "LAPI_DATABASE_URL": "database_url",
                 "LAPI_DATA_DIR": "data_dir", "LAPI_DEVICE": "device"}
    for var, k in overrides.items():
        if env.get(var):
            if k == "port":
                try:
                    values[k] = int(env[var])
                except ValueError:
                    raise ConfigError(f"{var}: must be an integer, got {env[var]!r}") from None
            else:
                values[k] = env[var]

    port = values.get("port", Settings.port)
    _range("server.port", port, 0, 65535)
    _range("server.max_frame_bytes", values.get("max_frame_bytes", Settings.max_frame_bytes), 1024, 512 * 1024 * 1024)
    _range("reading.max_plates_per_frame", values.get("max_plates_per_frame", 8), 1, 64)
    _range("reading.reading_threads", values.get("reading_threads", 1), 1, 64)
    _range("reading.batch_max_frames", values.get("batch_max_frames", Settings.batch_max_frames), 1, 256)
    _range("reading.batch_max_wait_ms", values.get("batch_max_wait_ms", Settings.batch_max_wait_ms), 0, 1000)
    device_crops = values.get("device_crops", "auto")
    if isinstance(device_crops, str) and device_crops != "auto":
        raise ConfigError(f"reading.device_crops: must be true, false or \"auto\", got {device_crops!r}")
    precision = values.get("precision", Settings.precision)
    if precision not in (*PRECISIONS, "auto"):
        raise ConfigError(f"reading.precision: one of {', '.join(PRECISIONS)} or \"auto\", got {precision!r}")
    min_confidence = float(values.get("min_confidence", Settings.min_confidence))
    min_confidence_generic = float(values.get("min_confidence_generic", Settings.min_confidence_generic))
    _range("reading.min_confidence", min_confidence, 0.0, 1.0)
    _range("reading.min_confidence_generic", min_confidence_generic, 0.0, 1.0)
    retry_rotations = _retry_rotations(values.get("retry_rotations", list(Settings.retry_rotations)))
    retry_sizes = _retry_sizes(values.get("retry_sizes", list(Settings.retry_sizes)))
    device = values.get("device", "cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"reading.device: must be 'cpu' or 'cuda[:N]', got {device!r}")
    url = values.get("database_url") or None
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("store.database_url: must start with postgresql:// (or be unset for the embedded store)")
    compress_after = _duration("store.compress_after", values.get("compress_after", "2d"),
                               timedelta(hours=1), timedelta(days=365))

    detector_dir = _path(base, values.get("detector_dir", "models/detector"))
    if not (detector_dir / "model.json").exists():
        raise ConfigError(f"reading.detector_dir: no model.json in {detector_dir}")
    recognizer_config = _path(base, values.get("recognizer_config", "models/ocr/lapi_plate_g2.json"))
    if not recognizer_config.exists():
        raise ConfigError(f"reading.recognizer_config: {recognizer_config} does not exist")
    if precision == "int8":
        _check_int8(device, recognizer_config)
    if precision == "bf16" and device == "cpu":
        _check_bf16_cpu()

    return Settings(
        host=values.get("host", Settings.host), port=port, compress_after=compress_after,
        max_frame_bytes=values.get("max_frame_bytes", Settings.max_frame_bytes),
        database_url=url, data_dir=_path(base, values.get("data_dir", "data")),
        detector_dir=detector_dir, recognizer_config=recognizer_config, device=device,
        max_plates_per_frame=values.get("max_plates_per_frame", 8),
        reading_threads=values.get("reading_threads", 1),
        batch_max_frames=values.get("batch_max_frames", Settings.batch_max_frames),
        batch_max_wait_ms=float(values.get("batch_max_wait_ms", Settings.batch_max_wait_ms)),
        device_crops=None if device_crops == "auto" else device_crops,
        precision=precision,
        min_confidence=min_confidence, min_confidence_generic=min_confidence_generic,
        retry_rotations=retry_rotations, retry_sizes=retry_sizes,
        country_weights=parse_country_weights(values["countries"]) if "countries" in values
        else dict(grammars.COUNTRY_PRIORS),
        cameras=parse_cameras(without_stream_keys(raw.get("cameras", []))),
        tracking=_video(lambda: parse_tracking(values.get("tracking", {}), raw.get("cameras", []))),
        streams=_video(lambda: parse_streams(raw.get("cameras", []), base)),
        trackers=parse_trackers(raw.get("trackers", {})),
        geo=parse_geo(raw.get("geo", {}), base),
        alerts=parse_alerts(raw.get("alerts", {}), env),
        retention=_security(lambda s: s.parse_retention(raw.get("retention", {}))),
        limits=_security(lambda s: s.parse_limits(raw.get("limits", {}))),
        investigations=parse_investigations(raw.get("investigations", {})),
    )
