"""The site meter's readings sent as the LC's own MeterValues on EVSE 0 (1.6: connector 0) at
clock-aligned times.

The balancer polls the meter; this only takes its last good reading at each aligned time (none
when it is stale: a lost meter sends nothing rather than an old value). Nothing is sent while
the CSMS has not Accepted the LC's boot: the sample of that moment is simply skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from modbus.reader import MeterReader
from station.link import StationCallFailed, StationLink
from station.meter_values import meter_values_request, next_aligned
from station.session import LinkState

log = logging.getLogger(__name__)


class AlignedMeterValues:
    def __init__(
        self,
        link: StationLink,
        meter: MeterReader,
        stale_after_s: float,
        interval_s: int,
        measurands: tuple[str, ...],
    ) -> None:
        self._link = link
        self._meter = meter
        self._stale_after_s = stale_after_s
        self.interval_s = interval_s  # SampledDataCtrlr.AlignedDataInterval; 0: none sent
        self.measurands = measurands  # SampledDataCtrlr.AlignedDataMeasurands
        self.sent = 0
        self._changed = asyncio.Event()

    def change(
        self, interval_s: int | None = None, measurands: tuple[str, ...] | None = None
    ) -> None:
        """A new interval starts counting at once (the next aligned time of the new one)."""
        if interval_s is not None:
            self.interval_s = interval_s
        if measurands is not None:
            self.measurands = measurands
        self._changed.set()

    async def run(self) -> None:
        while True:
            self._changed.clear()
            if self.interval_s <= 0:
                await self._changed.wait()
                continue
            at = next_aligned(time.time(), self.interval_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(at - time.time(), 0.0))
                continue  # changed: count from the new settings
            await self._send(at)

    async def send_triggered(self) -> None:
        """TriggerMessage MeterValues (F06): the reading of now, if the meter has a fresh one."""
        await self._send(time.time(), "Trigger")

    async def _send(self, at: float, context: str = "Sample.Clock") -> None:
        if self._link.session.state is not LinkState.ACCEPTED:
            return
        reading = self._meter.last_reading
        if reading is None or reading.age(time.monotonic()) > self._stale_after_s:
            return
        wording = self._link.session.dialect.meter_values
        payload = meter_values_request(reading, self.measurands, at, context, wording)
        if payload is None:
            return
        try:
            await self._link.call("MeterValues", payload)
        except StationCallFailed as failed:
            log.warning("the LC's own MeterValues: %s", failed)
            return
        self.sent += 1
