"""OsmAnd / Traccar Client HTTP protocol: query or form parameters -> :class:`~trackers.pings.Ping`.

The Traccar Client apps (Android, iOS) and OsmAnd's live tracking send one fix per request as
``?id=..&lat=..&lon=..&timestamp=..&speed=..&bearing=..&altitude=..&accuracy=..&batt=..``
(GET, or POST with a query string or form body).  Pure: the HTTP handler lives in the API.

Units, as Traccar's ``OsmAndProtocolDecoder`` reads them:
``speed`` is in **knots** (Traccar Client converts the phone's m/s to knots; set
``trackers.osmand_speed_unit`` for senders that use another unit), ``bearing`` in degrees,
``altitude`` and ``accuracy`` in metres, ``batt`` in percent; ``timestamp`` is Unix seconds (or
milliseconds) or an ISO 8601 time (a time without offset is taken as UTC, as Traccar does).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone

from trackers.errors import DecodeError
from trackers.pings import BEACON_ID_RULE, Ping, PingError, parse_time, valid_beacon_id

SPEED_UNITS_KMH = {"kn": 1.852, "kmh": 1.0, "ms": 3.6, "mph": 1.609344}
_OFFSET_SPACE = re.compile(r" (\d\d:?\d\d)$")  # '+01:00' whose '+' became a space in a query string


class OsmAndError(DecodeError):
    """A request whose parameters cannot be read as a fix."""


def _float(params: Mapping[str, str], name: str, required: bool = False) -> float | None:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        if required:
            raise OsmAndError(name, "is required")
        return None
    try:
        value = float(raw)
    except ValueError:
        raise OsmAndError(name, f"must be a number, got {raw[:40]!r}") from None
    if not math.isfinite(value):
        raise OsmAndError(name, f"must be a finite number, got {raw[:40]!r}")
    return value


def _timestamp(raw: str) -> datetime:
    raw = raw.strip()
    try:
        if re.fullmatch(r"\d{1,16}(\.\d+)?", raw):
            return parse_time(float(raw), "timestamp")
        text = _OFFSET_SPACE.sub(r"+\1", raw.replace(" ", "T", 1) if "T" not in raw else raw)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except PingError as err:
        raise OsmAndError("timestamp", err.message) from None
    except ValueError:
        raise OsmAndError("timestamp", f"not Unix seconds or an ISO 8601 time: {raw[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def decode_osmand(params: Mapping[str, str], now: datetime, speed_unit: str = "kn") -> Ping:
    """One request's parameters -> :class:`Ping` (validated afterwards by :func:`~trackers.pings.check_ping`).

    ``id`` (or ``deviceid``) names the beacon; ``location=lat,lon`` is accepted for ``lat``/``lon``;
    a missing ``timestamp`` means "now", as in Traccar.
    """
    beacon_id = params.get("id") or params.get("deviceid")
    if not valid_beacon_id(beacon_id):
        raise OsmAndError("id", f"is required: {BEACON_ID_RULE}")
    if "lat" not in params and "location" in params:
        lat_raw, _, lon_raw = params["location"].partition(",")
        params = {**params, "lat": lat_raw, "lon": lon_raw}
    lat = _float(params, "lat", required=True)
    lon = _float(params, "lon", required=True)
    raw_time = params.get("timestamp")
    fix_time = _timestamp(raw_time) if raw_time else now
    speed = _float(params, "speed")
    return Ping(
        beacon_id=beacon_id, fix_time=fix_time, lat=lat, lon=lon,  # type: ignore[arg-type]
        speed_kmh=None if speed is None else round(speed * SPEED_UNITS_KMH[speed_unit], 3),
        heading=_float(params, "bearing") if "bearing" in params else _float(params, "heading"),
        altitude_m=_float(params, "altitude"), accuracy_m=_float(params, "accuracy"),
        battery_pct=_float(params, "batt"),
    )
