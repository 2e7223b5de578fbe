"""How often one charger's repeated problem is logged (pure: the time is an argument).

A charger that sends invalid frames inside its frame budget would otherwise write a WARNING
per frame: a log flood that costs the event loop and buries everything else. The first
occurrence is logged; the next ones within `interval_s` are only counted, and the first one
after that is logged with the count of those that were not.
"""

from __future__ import annotations


class LogThrottle:
    def __init__(self, interval_s: float) -> None:
        if interval_s < 0:
            raise ValueError(f"interval {interval_s} must not be negative")
        self._interval_s = interval_s
        self._quiet_until: float | None = None
        self.unlogged = 0  # occurrences counted since the last line

    def occurred(self, now: float) -> int | None:
        """None: count it without a line; otherwise log it now, saying that this many were
        not logged since the last line."""
        if self._quiet_until is not None and now < self._quiet_until:
            self.unlogged += 1
            return None
        unlogged, self.unlogged = self.unlogged, 0
        self._quiet_until = now + self._interval_s
        return unlogged
