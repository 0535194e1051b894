"""SQL predicates on a read ``r`` (a ``plate_reads`` row) shared by retention and query gating.

A *hit read* is a read that produced a hit: directly (``hits.read_id``), or as a frame read of a
vehicle pass that produced one (``hits.pass_id``).  A *held* read is attached to a procedure by a
hold in force (a hold names the read itself, or a plate over a time window).
"""

from __future__ import annotations

import re

HIT_READ = ("(EXISTS (SELECT 1 FROM hits h WHERE h.read_id = r.id AND h.read_at = r.read_at)"
            " OR (r.pass_id IS NOT NULL AND EXISTS (SELECT 1 FROM hits h WHERE h.pass_id = r.pass_id)))")

# %(now)s: the time the holds are judged at
HELD_READ = ("EXISTS (SELECT 1 FROM procedure_holds p WHERE p.released_at IS NULL AND p.expires_at > %(now)s"
             " AND ((p.read_id = r.id AND p.read_at = r.read_at)"
             " OR (p.plate_norm = r.plate_norm AND r.read_at >= p.window_start AND r.read_at < p.window_end)))")


def hit_read(alias: str) -> str:
    """:data:`HIT_READ` for a read aliased ``alias`` instead of ``r``."""
    return re.sub(r"\br\.", f"{alias}.", HIT_READ)


def held_read(alias: str) -> str:
    """:data:`HELD_READ` for a read aliased ``alias`` instead of ``r``."""
    return re.sub(r"\br\.", f"{alias}.", HELD_READ)
