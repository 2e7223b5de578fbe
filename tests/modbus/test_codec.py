"""Register decoding and encoding, without I/O."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.client import AsyncModbusTcpClient

from modbus.codec import (
    DataType,
    RegisterPoint,
    WordOrder,
    decode_point,
    encode_point,
    raw_to_number,
    registers_to_raw,
)

# Register patterns quoted in the research notes, checked against pymodbus 3.16.1.
FLOAT_230_1 = [0x4366, 0x199A]


def test_float32_big_endian_words() -> None:
    point = RegisterPoint(0, DataType.FLOAT32)
    assert decode_point(point, FLOAT_230_1) == pytest.approx(230.1, rel=1e-7)


def test_float32_word_swapped() -> None:
    point = RegisterPoint(0, DataType.FLOAT32, WordOrder.LITTLE)
    assert decode_point(point, FLOAT_230_1[::-1]) == pytest.approx(230.1, rel=1e-7)


def test_int32_word_swapped_low_word_first() -> None:
    point = RegisterPoint(0, DataType.INT32, WordOrder.LITTLE)
    assert decode_point(point, [0x0001, 0x0000]) == 1
    assert decode_point(point, [0xFFFF, 0xFFFF]) == -1  # signed, e.g. an exporting phase


def test_carlo_gavazzi_current_in_milliamps() -> None:
    point = RegisterPoint(0x0C, DataType.INT32, WordOrder.LITTLE, scale=0.001)
    # 16 500 mA = 0x0000_4074, low word first.
    assert decode_point(point, [0x4074, 0x0000]) == pytest.approx(16.5)


def test_scaled_integer_and_kwh_to_wh() -> None:
    assert decode_point(RegisterPoint(0, DataType.UINT32, scale=0.1), [0, 2301]) == pytest.approx(
        230.1
    )
    energy = RegisterPoint(0, DataType.UINT64, scale=10.0)  # 0.01 kWh
    assert decode_point(energy, [0, 0, 0, 123_456]) == pytest.approx(1_234_560.0)


def test_sentinel_is_no_reading_not_zero() -> None:
    point = RegisterPoint(0, DataType.UINT32, scale=0.01, no_reading=frozenset({0xFFFF_FFFF}))
    assert decode_point(point, [0xFFFF, 0xFFFF]) is None
    assert decode_point(point, [0, 0]) == 0.0


def test_sentinel_matches_after_word_order() -> None:
    # Patterns are written most significant word first whatever the wire order.
    point = RegisterPoint(0, DataType.INT32, WordOrder.LITTLE, no_reading=frozenset({0x7FFF_FFFF}))
    assert decode_point(point, [0xFFFF, 0x7FFF]) is None
    assert decode_point(point, [0x7FFF, 0xFFFF]) is not None


@pytest.mark.parametrize("data_type", [DataType.FLOAT32, DataType.FLOAT64])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_float_is_no_reading(data_type: DataType, value: float) -> None:
    point = RegisterPoint(0, data_type)
    assert decode_point(point, encode_point(point, value)) is None


def test_sunspec_scale_factor_exponent() -> None:
    point = RegisterPoint(0, DataType.INT16, no_reading=frozenset({0x8000}))
    assert decode_point(point, [1234], exponent=-2) == pytest.approx(12.34)
    assert decode_point(point, [1104], exponent=1) == pytest.approx(11040.0)
    assert decode_point(point, [0x8000], exponent=-2) is None


def test_float64_and_int64() -> None:
    assert decode_point(RegisterPoint(0, DataType.FLOAT64), [0x4093, 0x4A45, 0x8793, 0xDD98]) == (
        pytest.approx(1234.5678)
    )
    assert decode_point(RegisterPoint(0, DataType.INT64), [0xFFFF] * 4) == -1


def test_encode_writes_sentinel_for_no_reading() -> None:
    point = RegisterPoint(0, DataType.UINT32, no_reading=frozenset({0xFFFF_FFFF}))
    assert encode_point(point, None) == [0xFFFF, 0xFFFF]
    float_point = RegisterPoint(0, DataType.FLOAT32)
    assert decode_point(float_point, encode_point(float_point, None)) is None


def test_encode_rejects_what_cannot_be_represented() -> None:
    with pytest.raises(ValueError, match="no 'no reading' value"):
        encode_point(RegisterPoint(0, DataType.INT32), None)
    with pytest.raises(ValueError, match="does not fit in int16"):
        encode_point(RegisterPoint(0, DataType.INT16, scale=0.01), 400.0)


FLOAT_EXACT = 1 << 53
_INTEGER_TYPES = [t for t in DataType if not t.is_float]
_PYMODBUS_TYPES = {
    DataType.INT16: AsyncModbusTcpClient.DATATYPE.INT16,
    DataType.UINT16: AsyncModbusTcpClient.DATATYPE.UINT16,
    DataType.INT32: AsyncModbusTcpClient.DATATYPE.INT32,
    DataType.UINT32: AsyncModbusTcpClient.DATATYPE.UINT32,
    DataType.INT64: AsyncModbusTcpClient.DATATYPE.INT64,
    DataType.UINT64: AsyncModbusTcpClient.DATATYPE.UINT64,
    DataType.FLOAT32: AsyncModbusTcpClient.DATATYPE.FLOAT32,
    DataType.FLOAT64: AsyncModbusTcpClient.DATATYPE.FLOAT64,
}


@given(st.data())
def test_decoding_agrees_with_pymodbus(data: st.DataObject) -> None:
    """pymodbus's own converter is an independent oracle for type and word order."""
    data_type = data.draw(st.sampled_from(list(DataType)))
    word_order = data.draw(st.sampled_from(list(WordOrder)))
    count = data_type.register_count
    registers = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=count, max_size=count))
    ours = raw_to_number(registers_to_raw(registers, word_order), data_type)
    theirs = AsyncModbusTcpClient.convert_from_registers(
        registers,
        _PYMODBUS_TYPES[data_type],
        word_order="big" if word_order is WordOrder.BIG else "little",
    )
    assert isinstance(theirs, int | float)
    assert ours == theirs or (math.isnan(ours) and math.isnan(theirs))


@given(st.data())
def test_integer_round_trip(data: st.DataObject) -> None:
    data_type = data.draw(st.sampled_from(_INTEGER_TYPES))
    word_order = data.draw(st.sampled_from(list(WordOrder)))
    bits = 16 * data_type.register_count
    signed = data_type.value.startswith("int")
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    # Values are floats: exact up to 2^53 (9e15 Wh, beyond any energy counter).
    number = data.draw(st.integers(max(low, -FLOAT_EXACT), min(high, FLOAT_EXACT)))
    point = RegisterPoint(0, data_type, word_order)
    assert decode_point(point, encode_point(point, number)) == number


@given(
    st.sampled_from([DataType.FLOAT32, DataType.FLOAT64]),
    st.sampled_from(list(WordOrder)),
    st.floats(width=32, allow_nan=False, allow_infinity=False),
)
def test_float_round_trip(data_type: DataType, word_order: WordOrder, value: float) -> None:
    point = RegisterPoint(0, data_type, word_order)
    assert decode_point(point, encode_point(point, value)) == value


@given(st.integers(-10, 10), st.integers(-32767, 32767))
def test_scaled_int16_round_trip(exponent: int, raw: int) -> None:
    point = RegisterPoint(0, DataType.INT16, scale=0.5)
    value = decode_point(point, encode_point(point, raw * 0.5 * 10.0**exponent, exponent), exponent)
    assert value == pytest.approx(raw * 0.5 * 10.0**exponent)
