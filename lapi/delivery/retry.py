"""When to try a failed delivery again.  Pure."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8      # then the delivery is dead-lettered
    base_s: float = 2.0        # delay after the first failure, before jitter
    max_s: float = 600.0       # the delay stops doubling here

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after the ``failures``-th failed attempt: exponential, "equal jitter"
        (between half and all of base * 2^(failures-1), capped), so receivers that went down
        together are not hit again in lock-step."""
        ceiling = min(self.max_s, self.base_s * 2 ** max(0, failures - 1))
        return ceiling / 2 + rand() * ceiling / 2

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
