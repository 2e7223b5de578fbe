"""A simulated meter: serves any register map over Modbus TCP on 127.0.0.1.

Values are encoded with the map's own encoder (the inverse of the reader's decoder),
so whatever the map says about type, scale and word order is exercised end to end.
SunSpec maps are served inside a model chain (marker, common model 1, the meter
model, end marker) at a chosen base address, with fixed scale factors.
"""

from collections.abc import Iterable, Mapping
from types import TracebackType

from modbus.codec import encode_point, scale_factor_point
from modbus.known_maps import resolve_map
from modbus.link import RtuOverTcpLink, TcpLink
from modbus.meter_map import CURRENTS, VOLTAGES, MeterMap, Quantity
from modbus.sunspec import build_model_chain
from modbus.transport import RegisterServer

ThreePhases = tuple[float, float, float]

# Scale factors the simulated SunSpec meter announces (value = raw x 10^sf): 0.01 A,
# 0.1 V, 10 W (int16 then covers ±327 kW) and 1 Wh.
SUNSPEC_EXPONENTS: dict[Quantity, int] = {
    **dict.fromkeys(CURRENTS, -2),
    **dict.fromkeys(VOLTAGES, -1),
    Quantity.POWER: 1,
    Quantity.ENERGY_IMPORT: 0,
}


class SimulatedMeter:
    """A meter speaking `meter_map`, for tests and the demo.

    Quantities the map does not have are not served (a single-phase SunSpec meter
    has no L2/L3). Every served quantity starts at 0 (a SunSpec energy counter at 0
    means "not accumulated" and reads as no reading).
    """

    def __init__(
        self,
        meter_map: MeterMap | str,
        *,
        port: int = 0,
        unit_id: int = 1,
        rtu_framing: bool = False,
        sunspec_base: int = 40000,
    ) -> None:
        self.meter_map = resolve_map(meter_map)
        if self.meter_map.sunspec_model is None:
            self._served_map = self.meter_map
            registers = {
                address: 0 for block in self.meter_map.read_blocks for address in block.addresses
            }
        else:
            chain = build_model_chain(
                sunspec_base,
                self.meter_map.sunspec_model,
                unit_id=unit_id,
                model_name=self.meter_map.name,
            )
            self._served_map = self.meter_map.shifted(chain.model_address)
            registers = chain.registers
        link = RtuOverTcpLink("127.0.0.1", port) if rtu_framing else TcpLink("127.0.0.1", port)
        self._server = RegisterServer(
            {self.meter_map.function_code: registers}, link=link, unit_id=unit_id
        )
        self._write_scale_factors()
        self.set_values(dict.fromkeys(self._served_map.points, 0.0))

    @property
    def link(self) -> TcpLink | RtuOverTcpLink:
        """Where a reader connects (the bound port once started)."""
        return self._server.link

    async def start(self) -> None:
        """Start serving ("plug the meter in"); again on the same port after `stop`."""
        await self._server.start()

    async def stop(self) -> None:
        """Stop serving and drop every connection ("unplug the meter")."""
        await self._server.stop()

    async def __aenter__(self) -> "SimulatedMeter":
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def set_reading(
        self,
        *,
        currents: ThreePhases | None = None,
        voltages: ThreePhases | None = None,
        power_w: float | None = None,
        energy_wh: float | None = None,
    ) -> None:
        """Set what the meter measures; arguments left out (None) keep their value."""
        values: dict[Quantity, float | None] = {}
        if currents is not None:
            values |= zip(CURRENTS, currents, strict=True)
        if voltages is not None:
            values |= zip(VOLTAGES, voltages, strict=True)
        if power_w is not None:
            values[Quantity.POWER] = power_w
        if energy_wh is not None:
            values[Quantity.ENERGY_IMPORT] = energy_wh
        self.set_values(values)

    def set_no_reading(self, *quantities: Quantity) -> None:
        """Serve the map's "no reading" value (its sentinel, or NaN) for `quantities`."""
        self.set_values(dict.fromkeys(quantities))

    def set_values(self, values: Mapping[Quantity, float | None]) -> None:
        """Set quantities directly; None serves "no reading"."""
        for quantity, value in values.items():
            if quantity in self._served_map.points:
                self._write(self._served_map.encode(quantity, value, self._registers()))

    def write_registers(self, address: int, values: Iterable[int]) -> None:
        """Write raw registers (e.g. an unset SunSpec scale factor) at served addresses."""
        self._server.write(self.meter_map.function_code, address, list(values))

    def _write_scale_factors(self) -> None:
        for quantity, point in self._served_map.points.items():
            if point.scale_factor_address is not None:
                sf_point = scale_factor_point(point.scale_factor_address)
                self.write_registers(
                    sf_point.address, encode_point(sf_point, SUNSPEC_EXPONENTS[quantity])
                )

    def _registers(self) -> Mapping[int, int]:
        return self._server.registers(self.meter_map.function_code)

    def _write(self, registers: Mapping[int, int]) -> None:
        for address, value in registers.items():
            self.write_registers(address, [value])
