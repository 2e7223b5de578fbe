"""Custom register maps from the config file (plain dicts), and their error messages."""

import tomllib
from typing import Any

import pytest

from modbus.codec import DataType, WordOrder
from modbus.custom_map import custom_map_from_dict
from modbus.errors import MeterMapError
from modbus.meter_map import Quantity, ReadBlock

CONFIG = """
[meter.map]
function_code = 4
word_order = "CDAB"

[meter.map.current_l1]
address = 0x0C
type = "int32"
scale = 0.001
no_reading = [0x7FFFFFFF, -1]

[meter.map.current_l2]
address = 0x0E
type = "int32"
scale = 0.001

[meter.map.current_l3]
address = 0x10
type = "int32"
scale = 0.001
word_order = "big"

[meter.map.power]
address = 0x28
type = "float32"
"""


def _valid() -> dict[str, Any]:
    table: dict[str, Any] = tomllib.loads(CONFIG)["meter"]["map"]
    return table


def _problems(table: dict[str, Any]) -> list[str]:
    with pytest.raises(MeterMapError) as caught:
        custom_map_from_dict(table)
    return caught.value.problems


def test_map_from_toml() -> None:
    meter_map = custom_map_from_dict(_valid())
    assert meter_map.name == "custom"
    assert meter_map.function_code == 4
    current_l1 = meter_map.points[Quantity.CURRENT_L1]
    assert current_l1.data_type is DataType.INT32
    assert current_l1.word_order is WordOrder.LITTLE  # the map's default
    assert current_l1.scale == 0.001
    assert current_l1.no_reading == {0x7FFF_FFFF, 0xFFFF_FFFF}  # -1 as two's complement
    assert meter_map.points[Quantity.CURRENT_L3].word_order is WordOrder.BIG  # overridden
    assert Quantity.VOLTAGE_L1 not in meter_map.points
    assert meter_map.read_blocks == (ReadBlock(0x0C, 0x1E),)


def test_decoding_uses_the_custom_settings() -> None:
    meter_map = custom_map_from_dict(_valid())
    bank = dict.fromkeys(range(0x0C, 0x2A), 0)
    bank.update({0x0C: 0x4074, 0x0E: 0xFFFF, 0x0F: 0x7FFF, 0x10: 0x0000, 0x11: 0x1F40})
    decoded = meter_map.decode(bank)
    assert decoded[Quantity.CURRENT_L1] == pytest.approx(16.5)
    assert decoded[Quantity.CURRENT_L2] == pytest.approx(2_147_483.647)  # no sentinel on L2
    assert decoded[Quantity.CURRENT_L3] == pytest.approx(8.0)


def test_unknown_type_names_the_key() -> None:
    table = _valid()
    table["current_l1"]["type"] = "float16"
    assert _problems(table) == [
        "meter.map.current_l1.type: unknown type 'float16' "
        "(expected one of int16, uint16, int32, uint32, int64, uint64, float32, float64)"
    ]


def test_missing_phase_current() -> None:
    table = _valid()
    del table["current_l2"]
    assert _problems(table) == ["meter.map.current_l2: missing (every phase current is required)"]


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        (
            "function_code",
            6,
            "meter.map.function_code: must be 3 (holding registers) or 4 (input registers), got 6",
        ),
        ("function_code", "4", "meter.map.function_code: expected an integer, got '4'"),
        (
            "word_order",
            "BADC",
            "meter.map.word_order: unknown word order 'BADC' (expected big/ABCD or little/CDAB)",
        ),
        (
            "max_registers_per_read",
            200,
            "meter.map.max_registers_per_read: must be 1 to 125, got 200",
        ),
        (
            "max_registers_per_read",
            1,
            "meter.map.max_registers_per_read: 1 is less than a 2-register value",
        ),
        (
            "voltage_l4",
            {},
            "meter.map.voltage_l4: unknown key (expected function_code, word_order, ",
        ),
        (
            "power",
            5,
            "meter.map.power: expected a table with address, type, scale, word_order, no_reading",
        ),
    ],
)
def test_bad_map_setting(setting: str, value: object, problem: str) -> None:
    table = _valid()
    table[setting] = value
    (found,) = _problems(table)
    assert found.startswith(problem)


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("address", -1, "meter.map.current_l1.address: must be 0 to 65535 (0-based), got -1"),
        ("address", 65535, "meter.map.current_l1.address: int32 at 65535 runs past register 65535"),
        ("address", True, "meter.map.current_l1.address: expected an integer, got True"),
        ("scale", 0, "meter.map.current_l1.scale: must be a finite non-zero number, got 0"),
        ("scale", "1/1000", "meter.map.current_l1.scale: expected a number, got '1/1000'"),
        ("no_reading", 5, "meter.map.current_l1.no_reading: expected a list of integers, got 5"),
        (
            "no_reading",
            [1 << 32],
            "meter.map.current_l1.no_reading: 4294967296 does not fit in int32",
        ),
        ("offset", 2, "meter.map.current_l1.offset: unknown key (expected address, type, scale, "),
    ],
)
def test_bad_point_setting(setting: str, value: object, problem: str) -> None:
    table = _valid()
    table["current_l1"][setting] = value
    (found,) = _problems(table)
    assert found.startswith(problem)


def test_missing_required_point_settings() -> None:
    table = _valid()
    table["power"] = {"scale": 1000}
    assert _problems(table) == ["meter.map.power.address: missing", "meter.map.power.type: missing"]


def test_every_problem_is_reported_at_once_under_the_given_key() -> None:
    table = _valid()
    del table["function_code"]
    table["current_l1"]["type"] = "float16"
    table["current_l3"]["scale"] = 0
    with pytest.raises(MeterMapError) as caught:
        custom_map_from_dict(table, key="meters.grid.map")
    assert [problem.split(":")[0] for problem in caught.value.problems] == [
        "meters.grid.map.function_code",
        "meters.grid.map.current_l1.type",
        "meters.grid.map.current_l3.scale",
    ]
    assert str(caught.value).count(";") == 2
