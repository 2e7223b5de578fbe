"""A meter's register map as data, the read requests it needs, and its decoding.

A `MeterMap` says which function code to use and where each `Quantity` lives. Reading
is planned as few requests as possible; decoding works on a bank of register values
(address -> value) so it needs no I/O.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from modbus.codec import (
    SCALE_FACTOR_RANGE,
    RegisterPoint,
    decode_point,
    encode_point,
    scale_factor_point,
)


class Quantity(StrEnum):
    """What a map can provide, in SI units: A, V, W (positive = import), Wh."""

    CURRENT_L1 = "current_l1"
    CURRENT_L2 = "current_l2"
    CURRENT_L3 = "current_l3"
    VOLTAGE_L1 = "voltage_l1"
    VOLTAGE_L2 = "voltage_l2"
    VOLTAGE_L3 = "voltage_l3"
    POWER = "power"
    ENERGY_IMPORT = "energy_import"


CURRENTS = (Quantity.CURRENT_L1, Quantity.CURRENT_L2, Quantity.CURRENT_L3)
VOLTAGES = (Quantity.VOLTAGE_L1, Quantity.VOLTAGE_L2, Quantity.VOLTAGE_L3)

READ_HOLDING_REGISTERS = 3
READ_INPUT_REGISTERS = 4
# The Modbus PDU limit for one read of registers.
MAX_REGISTERS_PER_READ = 125


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: `count` registers from `address`."""

    address: int
    count: int

    @property
    def addresses(self) -> range:
        return range(self.address, self.address + self.count)


@dataclass(frozen=True)
class MeterMap:
    """Register map of one meter model.

    For SunSpec maps (`sunspec_model` set) addresses are offsets from the model
    header; `shifted` places the map at the address found by discovery.
    """

    name: str
    function_code: int
    points: Mapping[Quantity, RegisterPoint]
    max_registers_per_read: int = MAX_REGISTERS_PER_READ
    sunspec_model: int | None = None

    @property
    def end_address(self) -> int:
        """One past the highest register the map reads."""
        return max(end for _, end in self._spans())

    def shifted(self, offset: int) -> "MeterMap":
        return MeterMap(
            name=self.name,
            function_code=self.function_code,
            points={quantity: point.shifted(offset) for quantity, point in self.points.items()},
            max_registers_per_read=self.max_registers_per_read,
            sunspec_model=self.sunspec_model,
        )

    def decode(self, bank: Mapping[int, int]) -> dict[Quantity, float | None]:
        """Values of every quantity of the map; None means "no reading" (never 0)."""
        values: dict[Quantity, float | None] = {}
        for quantity, point in self.points.items():
            exponent = _exponent(point, bank)
            registers = [bank[address] for address in point.addresses]
            values[quantity] = (
                None if exponent is None else decode_point(point, registers, exponent)
            )
        return values

    def encode(
        self, quantity: Quantity, value: float | None, bank: Mapping[int, int]
    ) -> dict[int, int]:
        """Registers (address -> value) that make `decode` yield `value` for `quantity`.

        A SunSpec point is encoded with the scale factor currently in `bank`.
        """
        point = self.points[quantity]
        exponent = _exponent(point, bank)
        if exponent is None:
            raise ValueError(f"{self.name}: the scale factor of {quantity} is not set")
        return dict(zip(point.addresses, encode_point(point, value, exponent), strict=True))

    def _spans(self) -> set[tuple[int, int]]:
        """(first, one past last) address of every value, scale factors included."""
        spans = {(point.address, point.addresses.stop) for point in self.points.values()}
        spans |= {
            (sf, sf + 1)
            for sf in (point.scale_factor_address for point in self.points.values())
            if sf is not None
        }
        return spans

    @cached_property
    def read_blocks(self) -> tuple[ReadBlock, ...]:
        """The requests that read every register the map needs."""
        # Greedy from the lowest address: a block grows while the next value fits whole
        # within the size limit, which gives the fewest requests and never splits a
        # value over two requests. Registers in the gaps are read along and ignored.
        blocks: list[ReadBlock] = []
        for start, end in sorted(self._spans()):
            if blocks and end <= blocks[-1].address + self.max_registers_per_read:
                first = blocks[-1].address
                blocks[-1] = ReadBlock(first, max(blocks[-1].count, end - first))
            else:
                blocks.append(ReadBlock(start, end - start))
        return tuple(blocks)


def _exponent(point: RegisterPoint, bank: Mapping[int, int]) -> int | None:
    """The power-of-ten exponent of `point`: 0, or its SunSpec scale factor (None if unset)."""
    if point.scale_factor_address is None:
        return 0
    sf_address = point.scale_factor_address
    exponent = decode_point(scale_factor_point(sf_address), [bank[sf_address]])
    if exponent is None or int(exponent) not in SCALE_FACTOR_RANGE:
        return None
    return int(exponent)
