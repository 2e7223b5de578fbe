"""Which charger handshakes the LC starts at all (pure: the time is an argument).

Every handshake costs a CSMS connection, so a device on the site network that opens them as
fast as it can would amplify into the CSMS and take the LC's CPU from the chargers. Before
anything else the LC checks that the handshake's source address is within its rate (a token
bucket per address, bursts allowed so a site's chargers can all come back after a power cut)
and that not too many handshakes are in progress at once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from router.rate_limit import FrameBudget

# Source addresses whose buckets are kept; beyond this the one seen longest ago is forgotten.
MAX_TRACKED_SOURCES = 4096


@dataclass(frozen=True, slots=True)
class AdmissionSettings:
    # Handshakes one source address may start per second on average, and at once.
    per_source_rate: float = 10.0
    per_source_burst: int = 50
    # Handshakes in progress (read, being checked, or waiting for the CSMS) at most.
    max_in_progress: int = 100


class HandshakeAdmission:
    def __init__(self, settings: AdmissionSettings) -> None:
        self._settings = settings
        self._sources: OrderedDict[str, FrameBudget] = OrderedDict()
        self.in_progress = 0

    def begin(self, source: str, now: float) -> str | None:
        """Start a handshake from `source`: None if admitted (then call `end`), or the reason."""
        settings = self._settings
        budget = self._sources.get(source)
        if budget is None:
            budget = FrameBudget(settings.per_source_rate, settings.per_source_burst, now)
            self._sources[source] = budget
            if len(self._sources) > MAX_TRACKED_SOURCES:
                self._sources.popitem(last=False)
        self._sources.move_to_end(source)
        if not budget.try_take(now):
            return "source_rate"
        if self.in_progress >= settings.max_in_progress:
            return "handshakes_in_progress"
        self.in_progress += 1
        return None

    def end(self) -> None:
        self.in_progress -= 1
