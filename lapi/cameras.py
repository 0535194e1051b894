"""The camera record shared by config, store and API."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Camera:
    """A roadside (or mobile) reader: where it stands and which way it looks."""

    id: str
    name: str = ""
    lat: float | None = None
    lon: float | None = None
    heading: float | None = None
    road: str = ""
