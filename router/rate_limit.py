"""How fast one charger's frames are taken in (pure: the time is an argument).

The LC relays every charger on one event loop, so a charger that floods it (a firmware bug, a
charger replaying a long queue without waiting for answers) would slow every other charger
down. Each charger gets a token bucket instead: `rate` frames per second on average and up to
`burst` at once. Frames beyond that are not dropped; the LC stops reading that charger's socket
for a while, so TCP slows the charger down and nothing is lost.
"""

from __future__ import annotations


class FrameBudget:
    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate {rate} and burst {burst} must be positive")
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._updated = now

    def take(self, now: float) -> float:
        """Spend one frame; the seconds to wait before handling it (0 when within budget)."""
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate) - 1
        self._updated = now
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate

    def try_take(self, now: float) -> bool:
        """Spend one unit if the budget has it; False (and nothing spent) when it has not."""
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
