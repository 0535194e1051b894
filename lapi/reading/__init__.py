"""The reading pipeline: detector, recogniser, grammar decode."""

from __future__ import annotations

PRECISIONS = ("fp32", "bf16", "int8")
"""The recogniser network's arithmetic (``reading.precision``); "auto" picks one for the device."""


def int8_activation_scales(model: dict, where: str) -> tuple[float, ...] | None:
    """``int8.activation_scales`` of a recogniser's JSON (:mod:`lapi.reading.int8_features`), None when absent.

    Here, free of torch, so that the config check at start-up and the recogniser read the key alike."""
    section = model.get("int8")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ValueError(f"{where}: int8 must be an object with activation_scales, not {type(section).__name__}")
    scales = section.get("activation_scales")
    if scales is None:
        return None
    if not isinstance(scales, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in scales):
        raise ValueError(f"{where}: int8.activation_scales must be a list of positive numbers")
    return tuple(float(v) for v in scales)
