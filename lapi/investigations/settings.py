"""``[investigations]``: how far back a new watchlist entry is checked, and the case-export key.

Validated at start-up with messages naming the key (``investigations.retroactive_days: ...``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from lapi.retention import LEGAL_MAX_NON_HIT

MAX_RETROACTIVE_DAYS = LEGAL_MAX_NON_HIT.days  # older reads that matched nothing are gone by law


@dataclass(frozen=True)
class InvestigationSettings:
    retroactive_days: int = 7          # a new entry is checked against the reads of the last N days (0: off)
    case_key_env: str = "LAPI_CASE_KEY"  # environment variable holding the case-export signing key
    max_retroactive_hits: int = 10_000  # per entry: more means the entry is too broad to alert on

    def case_key(self, env: dict[str, str] | None = None) -> bytes | None:
        """The HMAC key for case archives (None when the variable is unset or empty)."""
        value = (os.environ if env is None else env).get(self.case_key_env, "")
        return value.encode() if value else None


_KEYS = {"retroactive_days": int, "case_key_env": str, "max_retroactive_hits": int}
_RANGES = {"retroactive_days": (0, MAX_RETROACTIVE_DAYS), "max_retroactive_hits": (1, 1_000_000)}


def parse_investigations(raw: Any) -> InvestigationSettings:
    """``[investigations]`` -> settings; ConfigError naming the key on a bad value."""
    from lapi.config import ConfigError, _check_table

    if not isinstance(raw, dict):
        raise ConfigError("investigations: must be a table")
    _check_table("investigations", raw, _KEYS, _RANGES)
    if "case_key_env" in raw and not raw["case_key_env"].strip():
        raise ConfigError("investigations.case_key_env: must name an environment variable")
    return InvestigationSettings(**raw)
