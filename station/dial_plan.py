"""Which network profile slot the LC's own link dials next (2.0.1 B10), pure.

From the first entry of NetworkConfigurationPriority (at start, and whenever the link is lost
or the priority changed: B10.FR.03/04), `attempts` failed dials per entry before the next
(NetworkProfileConnectionAttempts). When every entry failed, back to the slot of the last
successful connection, and on to it alone (B10.FR.07); with none yet, round the list again
(B10.FR.08). Either way it never stops (B10.FR.09).
"""

from __future__ import annotations


class DialPlan:
    def __init__(self, priority: list[int], attempts: int, last_connected: int | None) -> None:
        self._priority = priority
        self._attempts = attempts
        self.last_connected = last_connected
        self._entry = 0
        self._failures = 0  # at the current entry
        self._falling_back = False

    @property
    def falling_back(self) -> bool:
        """Whether it redials the last successful connection alone (B10.FR.07)."""
        return self._falling_back and self.last_connected is not None

    @property
    def slot(self) -> int:
        """The slot to dial now."""
        if self._falling_back and self.last_connected is not None:
            return self.last_connected
        return self._priority[self._entry]

    def restart(self, priority: list[int], attempts: int) -> None:
        """From the first entry again: after the link was lost, or with a new priority."""
        self._priority, self._attempts = priority, attempts
        self._entry = self._failures = 0
        self._falling_back = False

    def failed(self) -> bool:
        """The dial failed; whether every entry has now failed all its attempts (a renewed
        client certificate then gives way to the old one, A02.FR.28)."""
        if self._falling_back:
            return False
        self._failures += 1
        if self._failures < self._attempts:
            return False
        self._failures = 0
        self._entry += 1
        if self._entry < len(self._priority):
            return False
        self._entry = 0
        self._falling_back = self.last_connected is not None
        return True

    def connected(self) -> bool:
        """The dial worked; whether it is another slot than the last connection's (the LC
        then registers anew with a BootNotification, B10.FR.10)."""
        switched = self.slot != self.last_connected
        self.last_connected = self.slot
        return switched
