"""The analysts' own base layer: a GeoJSON file of roads, coastline or landmarks the console draws
under a route (the machine is offline: no map tiles).  Checked at start-up so a bad file is a
config error naming the problem, not a blank map."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

MAX_BYTES = 20 * 1024 * 1024  # the browser parses and draws it on every route; keep it a sketch
GEOMETRIES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


class BaseLayerError(ValueError):
    """The file is not a usable GeoJSON FeatureCollection; the message says where."""


def _positions(coords: Any, depth: int, where: str) -> None:
    if depth == 0:
        if (not isinstance(coords, list) or len(coords) < 2
                or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in coords)):
            raise BaseLayerError(f"{where}: a position must be [lon, lat] numbers")
        if not (-180 <= coords[0] <= 180 and -90 <= coords[1] <= 90):
            raise BaseLayerError(f"{where}: [{coords[0]}, {coords[1]}] is not a lon/lat position (WGS 84, RFC 7946)")
        return
    if not isinstance(coords, list):
        raise BaseLayerError(f"{where}: coordinates nested too shallow for the geometry type")
    for c in coords:
        _positions(c, depth - 1, where)


def check_base_layer(doc: Any) -> dict[str, Any]:
    """``doc`` if it is a FeatureCollection of (Multi)Point/LineString/Polygon features in lon/lat."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise BaseLayerError("must be a GeoJSON FeatureCollection (\"type\": \"FeatureCollection\", \"features\": [...])")
    for i, feature in enumerate(doc["features"]):
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if geometry is None:
            continue  # a feature without geometry is allowed by RFC 7946 and drawn as nothing
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if kind not in GEOMETRIES:
            raise BaseLayerError(f"features[{i}].geometry.type: must be one of {', '.join(GEOMETRIES)}, got {kind!r}")
        _positions(geometry.get("coordinates"), _DEPTH[kind], f"features[{i}].geometry.coordinates")
    return doc


def load_base_layer(path: Path) -> dict[str, Any]:
    """The checked GeoJSON of ``path``."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise BaseLayerError(f"cannot read {path}: {err.strerror}") from None
    if size > MAX_BYTES:
        raise BaseLayerError(f"{path} is {size} bytes, at most {MAX_BYTES} (simplify it)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise BaseLayerError(f"{path} is not JSON: {err}") from None
    return check_base_layer(doc)


@lru_cache(maxsize=4)
def cached_layer(path: Path) -> dict[str, Any]:
    """``load_base_layer`` once per path: settings built in code (not by the config loader, which
    loads and checks the file at start-up) still serve the file without reading it per request."""
    return load_base_layer(path)
