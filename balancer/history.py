"""The last hour of the site as the control loop saw it, for the status page's charts.

One sample per control period: the current measured at the grid connection, the cap and the
current the allocation planned for the EVs, per site phase. Samples older than the window are
dropped as new ones arrive, so memory stays bounded (3,600 samples at a 1 s period).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from balancer.allocate import Mode
from balancer.site import PhaseValues

WINDOW_S = 3600.0


@dataclass(frozen=True, slots=True)
class SiteSample:
    at: float
    """The control loop's clock (monotonic seconds), not wall time."""
    currents: PhaseValues | None
    """Measured per site phase; None while the meter gave no fresh reading."""
    caps: PhaseValues
    margin: float
    planned: PhaseValues
    """EV current the allocation planned per site phase."""
    mode: Mode


class SiteHistory:
    def __init__(self, window_s: float = WINDOW_S) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self.window_s = window_s
        self._samples: deque[SiteSample] = deque()

    def record(self, sample: SiteSample) -> None:
        self._samples.append(sample)
        oldest = sample.at - self.window_s
        while self._samples[0].at < oldest:
            self._samples.popleft()

    def samples(self) -> list[SiteSample]:
        return list(self._samples)
