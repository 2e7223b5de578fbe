"""Polling one meter: `MeterReader.read()` -> `PolledReading`.

Error design: `read()` either returns a fresh `PolledReading` or raises
`MeterReadError` (no connection, timeout, exception reply, SunSpec model not found).
A reading is never invented. Inside a reading, a value is None when the meter said
"no reading" (sentinel, NaN, unset scale factor) or the map lacks that quantity;
None is never 0. The last good reading stays available as `last_reading`, and
`last_reading.age(now)` tells how stale the data the balancer holds is.
"""

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from modbus.errors import MeterExceptionReply, MeterReadError
from modbus.known_maps import resolve_map
from modbus.link import MeterLink
from modbus.meter_map import CURRENTS, READ_HOLDING_REGISTERS, VOLTAGES, MeterMap, Quantity
from modbus.sunspec import locate
from modbus.transport import ModbusClient

logger = logging.getLogger(__name__)

Phases = tuple[float | None, float | None, float | None]


@dataclass(frozen=True, slots=True)
class PolledReading:
    """One successful poll. Values are None when there is no reading for them."""

    currents: Phases  # A, L1..L3 as the meter reports them (magnitude or signed)
    voltages: Phases  # V, L1..L3 to neutral
    power_w: float | None  # total active power, W
    energy_import_wh: float | None  # import energy counter, Wh
    taken_at: float  # clock time (monotonic seconds) when the reply arrived

    def age(self, now: float) -> float:
        """Seconds since the reading was taken, on the same clock as `taken_at`."""
        return now - self.taken_at

    @classmethod
    def from_values(
        cls, values: Mapping[Quantity, float | None], taken_at: float
    ) -> "PolledReading":
        def phases(quantities: tuple[Quantity, Quantity, Quantity]) -> Phases:
            first, second, third = (values.get(quantity) for quantity in quantities)
            return first, second, third

        return cls(
            currents=phases(CURRENTS),
            voltages=phases(VOLTAGES),
            power_w=values.get(Quantity.POWER),
            energy_import_wh=values.get(Quantity.ENERGY_IMPORT),
            taken_at=taken_at,
        )


@dataclass(frozen=True, slots=True)
class MeterConfig:
    link: MeterLink
    meter_map: MeterMap | str  # a built-in map name or a custom map
    unit_id: int = 1
    timeout_s: float = 1.0
    retries: int = 0  # retries inside one poll; the control loop's next poll is the retry


class PolledMeter(Protocol):
    """A meter as its users poll it: `MeterReader`, or a test's stand-in."""

    @property
    def last_reading(self) -> PolledReading | None:
        """The last successful reading, or None before the first one."""

    async def read(self) -> PolledReading:
        """Poll the meter once; raise `MeterReadError` if that gave no reading."""


class MeterReader:
    """Reads one meter; concurrent polls are serialized (one request at a time on the link)."""

    def __init__(self, config: MeterConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._map = resolve_map(config.meter_map)
        self._unit_id = config.unit_id
        self._client = ModbusClient(config.link, timeout_s=config.timeout_s, retries=config.retries)
        self._clock = clock
        self._placed_map: MeterMap | None = None
        self._last_reading: PolledReading | None = None
        self._failing = False

    @property
    def meter_map(self) -> MeterMap:
        return self._map

    @property
    def last_reading(self) -> PolledReading | None:
        """The last successful reading, or None before the first one."""
        return self._last_reading

    async def read(self) -> PolledReading:
        """Poll the meter once; raise `MeterReadError` if that gave no reading."""
        try:
            meter_map = await self._place_map()
            bank: dict[int, int] = {}
            for block in meter_map.read_blocks:
                registers = await self._client.read(
                    meter_map.function_code, block.address, block.count, self._unit_id
                )
                bank.update(zip(block.addresses, registers, strict=True))
        except MeterReadError as exc:
            if isinstance(exc, MeterExceptionReply):
                # The register layout may have changed (device replaced or reconfigured):
                # discover a SunSpec model again on the next poll.
                self._placed_map = None
            self._log_failure(exc)
            raise
        reading = PolledReading.from_values(meter_map.decode(bank), taken_at=self._clock())
        if self._failing:
            logger.info("meter %s: readings are back", self._map.name)
            self._failing = False
        self._last_reading = reading
        return reading

    def close(self) -> None:
        self._client.close()

    async def _place_map(self) -> MeterMap:
        if self._placed_map is None:
            if self._map.sunspec_model is None:
                self._placed_map = self._map
            else:
                self._placed_map = await locate(self._read_holding, self._map)
        return self._placed_map

    async def _read_holding(self, address: int, count: int) -> list[int]:
        return await self._client.read(READ_HOLDING_REGISTERS, address, count, self._unit_id)

    def _log_failure(self, exc: MeterReadError) -> None:
        # An outage is logged once; repeats are debug noise until it recovers.
        if self._failing:
            logger.debug("meter %s: still no reading: %s", self._map.name, exc)
        else:
            logger.warning("meter %s: no reading: %s", self._map.name, exc)
            self._failing = True
