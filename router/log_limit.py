"""At most one log line per key (a source address) per interval (pure: the time is an argument).

A hostile device can make the LC refuse it thousands of times a second; one line per minute
says the same without filling the disk or drowning the lines that matter.
"""

from __future__ import annotations

from collections import OrderedDict


class LogLimiter:
    def __init__(self, interval_s: float = 60.0, max_keys: int = 4096) -> None:
        self._interval_s = interval_s
        self._max_keys = max_keys
        # key -> (when its last line was logged, lines held back since)
        self._keys: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def allow(self, key: str, now: float) -> int | None:
        """None to stay quiet; otherwise log now, with the count of lines held back before."""
        last = self._keys.get(key)
        if last is not None and now - last[0] < self._interval_s:
            self._keys[key] = (last[0], last[1] + 1)
            return None
        self._keys[key] = (now, 0)
        self._keys.move_to_end(key)
        if len(self._keys) > self._max_keys:
            self._keys.popitem(last=False)  # the key logged longest ago
        return 0 if last is None else last[1]
