"""Register <-> value conversion: data type, word order, scale and "no reading" values.

Pure functions over 16-bit registers. `decode_point` and `encode_point` are exact
inverses, so the simulated meter serves what the reader expects by construction.
Bytes inside a register are always big-endian (Modbus); only the word order varies.
"""

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum


class DataType(StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"

    @property
    def register_count(self) -> int:
        return _STRUCT_FORMATS[self][1]

    @property
    def is_float(self) -> bool:
        return self in (DataType.FLOAT32, DataType.FLOAT64)


# struct format character and size in registers of each type.
_STRUCT_FORMATS: dict[DataType, tuple[str, int]] = {
    DataType.INT16: ("h", 1),
    DataType.UINT16: ("H", 1),
    DataType.INT32: ("i", 2),
    DataType.UINT32: ("I", 2),
    DataType.INT64: ("q", 4),
    DataType.UINT64: ("Q", 4),
    DataType.FLOAT32: ("f", 2),
    DataType.FLOAT64: ("d", 4),
}


class WordOrder(StrEnum):
    BIG = "big"  # most significant word first ("ABCD"), the Modbus convention
    LITTLE = "little"  # least significant word first ("CDAB", "word-swapped")


@dataclass(frozen=True, slots=True)
class RegisterPoint:
    """Where one value lives and how to turn its registers into an SI value.

    value = number × scale × 10^exponent, where the exponent is 0 unless the point
    names a SunSpec scale-factor register. `no_reading` holds raw register patterns
    (unsigned, most significant word first) that mean "no reading"; a NaN or
    infinite float also means "no reading". Values are floats, so 64-bit integers are
    exact up to 2^53 (9e15 Wh, beyond any energy counter).
    """

    address: int
    data_type: DataType
    word_order: WordOrder = WordOrder.BIG
    scale: float = 1.0
    no_reading: frozenset[int] = frozenset()
    scale_factor_address: int | None = None

    @property
    def addresses(self) -> range:
        return range(self.address, self.address + self.data_type.register_count)

    def shifted(self, offset: int) -> "RegisterPoint":
        sf_address = self.scale_factor_address
        return replace(
            self,
            address=self.address + offset,
            scale_factor_address=None if sf_address is None else sf_address + offset,
        )


# SunSpec scale factors are powers of ten well inside this range; anything else is a
# corrupt register and must not be turned into an absurd reading.
SCALE_FACTOR_RANGE = range(-10, 11)


def scale_factor_point(address: int) -> RegisterPoint:
    """A SunSpec `sunssf` register: int16 power-of-ten exponent, 0x8000 = not implemented."""
    return RegisterPoint(address, DataType.INT16, no_reading=frozenset({0x8000}))


def registers_to_raw(registers: Sequence[int], word_order: WordOrder) -> int:
    words = registers if word_order is WordOrder.BIG else registers[::-1]
    raw = 0
    for word in words:
        raw = (raw << 16) | word
    return raw


def raw_to_registers(raw: int, count: int, word_order: WordOrder) -> list[int]:
    words = [(raw >> (16 * (count - 1 - index))) & 0xFFFF for index in range(count)]
    return words if word_order is WordOrder.BIG else words[::-1]


def raw_to_number(raw: int, data_type: DataType) -> int | float:
    fmt, count = _STRUCT_FORMATS[data_type]
    number: int | float = struct.unpack(">" + fmt, raw.to_bytes(2 * count, "big"))[0]
    return number


def number_to_raw(number: int | float, data_type: DataType) -> int:
    fmt, _ = _STRUCT_FORMATS[data_type]
    try:
        packed = struct.pack(">" + fmt, number)
    except struct.error as exc:
        raise ValueError(f"{number} does not fit in {data_type}") from exc
    return int.from_bytes(packed, "big")


def decode_point(point: RegisterPoint, registers: Sequence[int], exponent: int = 0) -> float | None:
    """The SI value of `point` from its registers, or None for "no reading" (never 0)."""
    raw = registers_to_raw(registers, point.word_order)
    if raw in point.no_reading:
        return None
    number = raw_to_number(raw, point.data_type)
    if not math.isfinite(number):
        return None
    return number * point.scale * 10.0**exponent


def encode_point(point: RegisterPoint, value: float | None, exponent: int = 0) -> list[int]:
    """The registers that `decode_point` turns into `value`; None writes "no reading"."""
    if value is None:
        raw = _no_reading_raw(point)
    else:
        number = value / (point.scale * 10.0**exponent)
        raw = number_to_raw(number if point.data_type.is_float else round(number), point.data_type)
    return raw_to_registers(raw, point.data_type.register_count, point.word_order)


def _no_reading_raw(point: RegisterPoint) -> int:
    if point.no_reading:
        return min(point.no_reading)
    if point.data_type.is_float:
        return number_to_raw(math.nan, point.data_type)
    raise ValueError(f"register {point.address} ({point.data_type}) has no 'no reading' value")
