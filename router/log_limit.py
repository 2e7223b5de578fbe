"""How often a repeated problem is logged (pure: the time is an argument).

A charger that sends invalid frames inside its frame budget, or a hostile device that makes
the LC refuse it thousands of times a second, would otherwise write a line per occurrence: a
log flood that costs the event loop, fills the disk and buries the lines that matter. The first
occurrence is logged; the next ones within the interval are only counted, and the first one
after that is logged with the count of those that were not.
"""

from __future__ import annotations

from collections import OrderedDict


class LogThrottle:
    """One problem's lines: at most one per interval."""

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


class LogLimiter:
    """A throttle per key (a source address), the keys bounded: the one logged longest ago is
    forgotten first."""

    def __init__(self, interval_s: float = 60.0, max_keys: int = 4096) -> None:
        self._interval_s = interval_s
        self._max_keys = max_keys
        self._throttles: OrderedDict[str, LogThrottle] = OrderedDict()

    def allow(self, key: str, now: float) -> int | None:
        """None to stay quiet; otherwise log now, with the count of lines held back before."""
        throttle = self._throttles.get(key)
        if throttle is None:
            throttle = self._throttles[key] = LogThrottle(self._interval_s)
            if len(self._throttles) > self._max_keys:
                self._throttles.popitem(last=False)
        held_back = throttle.occurred(now)
        if held_back is not None:
            self._throttles.move_to_end(key)
        return held_back
