"""The one percentile every bench reports (nearest rank on the sorted samples), so p99 means the same in each."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float:
    """The sample at rank ``q`` (0-1) of ``values``, nearest rank; ``values`` must not be empty."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]
