"""A register map from the config file (a plain dict, as TOML gives it), validated.

Example (TOML):

    [meter.custom_map]
    function_code = 4            # 3 = holding registers, 4 = input registers
    word_order = "big"           # default for every value: "big"/"ABCD" or "little"/"CDAB"
    max_registers_per_read = 125

    [meter.custom_map.current_l1]
    address = 6
    type = "int32"               # int16 uint16 int32 uint32 int64 uint64 float32 float64
    scale = 0.001                # raw value x scale = A / V / W / Wh
    no_reading = [0x7FFFFFFF]    # raw values meaning "no reading"; negative = two's complement
    word_order = "little"        # optional, overrides the map's default

current_l1..current_l3 are required (the balancer protects each phase); voltage_l1..l3,
power and energy_import are optional. Every problem is reported, each naming its key.
"""

import math
from collections.abc import Callable, Mapping
from typing import TypeVar

from modbus.codec import DataType, RegisterPoint, WordOrder
from modbus.errors import MeterMapError
from modbus.meter_map import (
    CURRENTS,
    MAX_REGISTERS_PER_READ,
    READ_HOLDING_REGISTERS,
    READ_INPUT_REGISTERS,
    MeterMap,
    Quantity,
)

_MAP_SETTINGS = ("function_code", "word_order", "max_registers_per_read")
_POINT_SETTINGS = ("address", "type", "scale", "word_order", "no_reading")
_WORD_ORDERS = {
    "big": WordOrder.BIG,
    "abcd": WordOrder.BIG,
    "little": WordOrder.LITTLE,
    "cdab": WordOrder.LITTLE,
}
_LAST_ADDRESS = 0xFFFF

T = TypeVar("T")


class _Invalid(Exception):
    """One invalid setting; the message says what is wrong with it."""


def custom_map_from_dict(
    table: Mapping[str, object], *, key: str = "meter.map", name: str = "custom"
) -> MeterMap:
    """Build and validate a map; raise `MeterMapError` listing every problem."""
    problems: list[str] = []
    problems += _unknown_keys(table, key, (*_MAP_SETTINGS, *Quantity))
    function_code = _setting(table, "function_code", key, _function_code, problems, required=True)
    word_order = _setting(table, "word_order", key, _word_order, problems) or WordOrder.BIG
    max_per_read = _setting(table, "max_registers_per_read", key, _max_per_read, problems)
    points: dict[Quantity, RegisterPoint] = {}
    for quantity in Quantity:
        if quantity in table:
            point = _point(table[quantity], f"{key}.{quantity}", word_order, problems)
            if point is not None:
                points[quantity] = point
        elif quantity in CURRENTS:
            problems.append(f"{key}.{quantity}: missing (every phase current is required)")
    max_per_read = max_per_read or MAX_REGISTERS_PER_READ
    widest = max((point.data_type.register_count for point in points.values()), default=1)
    if max_per_read < widest:
        problems.append(
            f"{key}.max_registers_per_read: {max_per_read} is less than a {widest}-register value"
        )
    if problems or function_code is None:
        raise MeterMapError(problems)
    return MeterMap(name, function_code, points, max_registers_per_read=max_per_read)


def _point(
    table: object, where: str, default_order: WordOrder, problems: list[str]
) -> RegisterPoint | None:
    if not isinstance(table, Mapping):
        problems.append(f"{where}: expected a table with {', '.join(_POINT_SETTINGS)}")
        return None
    found = len(problems)
    problems += _unknown_keys(table, where, _POINT_SETTINGS)
    address = _setting(table, "address", where, _address, problems, required=True)
    data_type = _setting(table, "type", where, _data_type, problems, required=True)
    scale = _setting(table, "scale", where, _scale, problems) or 1.0
    word_order = _setting(table, "word_order", where, _word_order, problems) or default_order
    no_reading = _setting(table, "no_reading", where, _integers, problems) or []
    if address is None or data_type is None or len(problems) > found:
        return None
    if address + data_type.register_count - 1 > _LAST_ADDRESS:
        problems.append(
            f"{where}.address: {data_type} at {address} runs past register {_LAST_ADDRESS}"
        )
    raw_no_reading = set()
    for value in no_reading:
        try:
            raw_no_reading.add(_raw_pattern(value, data_type))
        except _Invalid as exc:
            problems.append(f"{where}.no_reading: {exc}")
    if len(problems) > found:
        return None
    return RegisterPoint(address, data_type, word_order, scale, frozenset(raw_no_reading))


def _setting(
    table: Mapping[str, object],
    field: str,
    where: str,
    parse: Callable[[object], T],
    problems: list[str],
    *,
    required: bool = False,
) -> T | None:
    if field not in table:
        if required:
            problems.append(f"{where}.{field}: missing")
        return None
    try:
        return parse(table[field])
    except _Invalid as exc:
        problems.append(f"{where}.{field}: {exc}")
        return None


def _unknown_keys(table: Mapping[str, object], where: str, known: tuple[str, ...]) -> list[str]:
    expected = ", ".join(known)
    return [
        f"{where}.{field}: unknown key (expected {expected})"
        for field in sorted(set(table) - set(known))
    ]


def _integer(value: object) -> int:
    # bool is an int subclass; `true` is never a meaningful register number.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"expected an integer, got {value!r}")
    return value


def _function_code(value: object) -> int:
    code = _integer(value)
    if code not in (READ_HOLDING_REGISTERS, READ_INPUT_REGISTERS):
        raise _Invalid(f"must be 3 (holding registers) or 4 (input registers), got {code}")
    return code


def _max_per_read(value: object) -> int:
    count = _integer(value)
    if not 1 <= count <= MAX_REGISTERS_PER_READ:
        raise _Invalid(f"must be 1 to {MAX_REGISTERS_PER_READ}, got {count}")
    return count


def _address(value: object) -> int:
    address = _integer(value)
    if not 0 <= address <= _LAST_ADDRESS:
        raise _Invalid(f"must be 0 to {_LAST_ADDRESS} (0-based), got {address}")
    return address


def _data_type(value: object) -> DataType:
    try:
        return DataType(str(value))
    except ValueError:
        expected = ", ".join(DataType)
        raise _Invalid(f"unknown type {value!r} (expected one of {expected})") from None


def _word_order(value: object) -> WordOrder:
    if isinstance(value, str) and value.lower() in _WORD_ORDERS:
        return _WORD_ORDERS[value.lower()]
    raise _Invalid(f"unknown word order {value!r} (expected big/ABCD or little/CDAB)")


def _scale(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"expected a number, got {value!r}")
    if value == 0 or not math.isfinite(value):
        raise _Invalid(f"must be a finite non-zero number, got {value!r}")
    return float(value)


def _integers(value: object) -> list[int]:
    if not isinstance(value, list):
        raise _Invalid(f"expected a list of integers, got {value!r}")
    return [_integer(item) for item in value]


def _raw_pattern(value: int, data_type: DataType) -> int:
    """The unsigned register pattern of `value`; negative values are two's complement."""
    bits = 16 * data_type.register_count
    if not -(1 << (bits - 1)) <= value < (1 << bits):
        raise _Invalid(f"{value} does not fit in {data_type}")
    return value % (1 << bits)
