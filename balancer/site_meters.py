"""The site meter and the panels' sub-meters, polled together once a period.

A failed poll keeps the meter's last good reading, whose age decides staleness (the allocator
judges it, balancer/site.py): one lost Modbus answer must not make the site look stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from balancer.metrics import BalancerMetrics
from balancer.site import MeterReading
from modbus.errors import MeterReadError
from modbus.reader import PolledMeter, PolledReading

log = logging.getLogger(__name__)


class SiteMeters:
    def __init__(
        self,
        meter: PolledMeter,
        panel_meters: Mapping[str, PolledMeter],
        metrics: BalancerMetrics,
        clock: Callable[[], float],
    ) -> None:
        self._meter = meter
        self._panel_meters = dict(panel_meters)  # by panel name
        self._metrics = metrics
        self._clock = clock

    async def read(self) -> tuple[MeterReading | None, dict[str, MeterReading | None]]:
        """The site's reading and each panel's, by panel name (None: no reading to go by)."""
        site, *panels = await asyncio.gather(
            self._read_site(), *map(self._poll, self._panel_meters.values())
        )
        by_panel = dict(zip(self._panel_meters, map(_reading, panels), strict=True))
        return _reading(site), by_panel

    async def _read_site(self) -> PolledReading | None:
        polled = await self._poll(self._meter)
        if polled is not None:
            self._metrics.meter_age.set(polled.age(self._clock()))
        return polled

    async def _poll(self, meter: PolledMeter) -> PolledReading | None:
        """A fresh reading, else the last good one (its age decides whether it still counts)."""
        try:
            return await meter.read()
        except MeterReadError as exc:
            self._metrics.meter_read_errors.inc()
            log.debug("meter read failed: %s", exc)
            return meter.last_reading


def _reading(polled: PolledReading | None) -> MeterReading | None:
    if polled is None:
        return None
    return site_reading(polled.currents, polled.voltages, polled.taken_at)


def site_reading(
    currents: tuple[float | None, ...], voltages: tuple[float | None, ...] | None, taken_at: float
) -> MeterReading | None:
    """The allocator's view of one meter poll: no reading unless all three currents are there."""
    if any(current is None for current in currents):
        return None
    amps = tuple(abs(float(c)) for c in currents if c is not None)  # a fuse sees |I|
    volts = None
    known = [v for v in voltages or () if v is not None and v > 0]
    if len(known) == 3:
        volts = (known[0], known[1], known[2])
    return MeterReading(currents=(amps[0], amps[1], amps[2]), read_at=taken_at, voltages=volts)
