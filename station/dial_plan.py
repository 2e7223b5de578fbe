"""Which network profile slot the LC's own link dials next (2.0.1 B10), pure.

From the first entry of NetworkConfigurationPriority (at start, and whenever the link is lost
or the priority changed: B10.FR.03/04), `attempts` failed dials per entry before the next
(NetworkProfileConnectionAttempts). When every entry failed, back to the slot of the last
successful connection, and on to it alone (B10.FR.07); with none yet, round the list again.
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

    def failed(self) -> None:
        if self._falling_back:
            return
        self._failures += 1
        if self._failures < self._attempts:
            return
        self._failures = 0
        self._entry += 1
        if self._entry == len(self._priority):
            self._entry = 0
            self._falling_back = self.last_connected is not None

    def connected(self) -> bool:
        """The dial worked; whether it is another slot than the last connection's (the LC
        then registers anew with a BootNotification, B10.FR.10)."""
        switched = self.slot != self.last_connected
        self.last_connected = self.slot
        return switched
