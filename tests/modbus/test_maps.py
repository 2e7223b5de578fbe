"""Built-in register maps: content, read planning and decoding, without I/O."""

import pytest

from modbus.codec import DataType, RegisterPoint, WordOrder
from modbus.errors import MeterMapError
from modbus.known_maps import known_map, known_map_names, resolve_map
from modbus.meter_map import CURRENTS, MAX_REGISTERS_PER_READ, MeterMap, Quantity, ReadBlock

SINGLE_PHASE = {"sunspec_201", "sunspec_211"}
SPLIT_PHASE = {"sunspec_202", "sunspec_212"}


def test_known_map_names() -> None:
    assert known_map_names() == [
        "abb_b23",
        "abb_b24",
        "carlo_gavazzi_em24",
        "carlo_gavazzi_em340",
        "eastron_sdm630",
        "eastron_sdm72d_m_v2",
        "finder_7m",
        "janitza_b23",
        "janitza_umg96rm_e",
        "phoenix_contact_eem_mb370",
        "schneider_iem3000",
        "siemens_pac2200",
        "socomec_countis",
        "sunspec_201",
        "sunspec_202",
        "sunspec_203",
        "sunspec_204",
        "sunspec_211",
        "sunspec_212",
        "sunspec_213",
        "sunspec_214",
    ]


def test_unknown_map_name_is_a_config_error() -> None:
    with pytest.raises(
        MeterMapError, match=r"meter.map: unknown meter map 'sdm999' \(known: abb_b23, "
    ):
        known_map("sdm999")


@pytest.mark.parametrize("name", known_map_names())
def test_every_map_has_its_phase_currents(name: str) -> None:
    phases = 1 if name in SINGLE_PHASE else 2 if name in SPLIT_PHASE else 3
    meter_map = known_map(name)
    assert [quantity for quantity in CURRENTS if quantity in meter_map.points] == list(
        CURRENTS[:phases]
    )
    assert meter_map.function_code in (3, 4)


@pytest.mark.parametrize("name", known_map_names())
def test_read_blocks_cover_every_value_within_the_request_limit(name: str) -> None:
    meter_map = known_map(name)
    blocks = meter_map.read_blocks
    assert all(
        block.count <= meter_map.max_registers_per_read <= MAX_REGISTERS_PER_READ
        for block in blocks
    )
    for point in meter_map.points.values():
        # Each value comes whole from one request.
        assert any(set(point.addresses) <= set(block.addresses) for block in blocks)


@pytest.mark.parametrize(
    ("name", "blocks"),
    [
        ("eastron_sdm630", (ReadBlock(0x00, 0x4A),)),  # one request, under Eastron's 80
        ("carlo_gavazzi_em24", (ReadBlock(0x00, 0x44),)),
        ("abb_b23", (ReadBlock(0x5000, 4), ReadBlock(0x5B00, 0x16))),
        ("siemens_pac2200", (ReadBlock(1, 66), ReadBlock(801, 4))),
        ("schneider_iem3000", (ReadBlock(0x0BB7, 62), ReadBlock(0x0C83, 4))),
        ("sunspec_203", (ReadBlock(3, 52),)),  # AphA .. TotWh_SF, relative to the model
    ],
)
def test_reads_are_grouped(name: str, blocks: tuple[ReadBlock, ...]) -> None:
    assert known_map(name).read_blocks == blocks


def test_grouping_respects_a_small_limit_and_never_splits_a_value() -> None:
    points = {
        Quantity.CURRENT_L1: RegisterPoint(0, DataType.FLOAT32),
        Quantity.CURRENT_L2: RegisterPoint(2, DataType.FLOAT32),
        Quantity.CURRENT_L3: RegisterPoint(4, DataType.FLOAT32),
    }
    meter_map = MeterMap("small", 4, points, max_registers_per_read=5)
    assert meter_map.read_blocks == (ReadBlock(0, 4), ReadBlock(4, 2))


def test_word_swapped_maps_are_cdab() -> None:
    for name in ("carlo_gavazzi_em24", "carlo_gavazzi_em340", "phoenix_contact_eem_mb370"):
        assert {point.word_order for point in known_map(name).points.values()} == {WordOrder.LITTLE}


@pytest.mark.parametrize("name", known_map_names())
def test_encode_then_decode_gives_the_values_back(name: str) -> None:
    meter_map = known_map(name)
    bank = dict.fromkeys(range(meter_map.end_address), 0)
    for point in meter_map.points.values():
        if point.scale_factor_address is not None:
            bank[point.scale_factor_address] = 0xFFFF  # 10^-1
    values = {quantity: 100.0 * (index + 1) for index, quantity in enumerate(meter_map.points)}
    for quantity, value in values.items():
        bank.update(meter_map.encode(quantity, value, bank))
    assert meter_map.decode(bank) == pytest.approx(values)


def test_unset_sunspec_scale_factor_means_no_reading() -> None:
    meter_map = known_map("sunspec_203")
    bank = dict.fromkeys(range(meter_map.end_address), 100)
    bank.update({6: 0x8000, 15: 0, 22: 0, 54: 0})  # A_SF not implemented, other SFs 10^0
    decoded = meter_map.decode(bank)
    assert [decoded[quantity] for quantity in CURRENTS] == [None, None, None]
    assert decoded[Quantity.VOLTAGE_L1] == 100.0


def test_out_of_range_sunspec_scale_factor_means_no_reading() -> None:
    meter_map = known_map("sunspec_203")
    bank = dict.fromkeys(range(meter_map.end_address), 100)
    bank[6] = 99  # 10^99 A is a corrupt register, not a current
    assert meter_map.decode(bank)[Quantity.CURRENT_L1] is None


def test_resolve_map_accepts_a_name_or_a_map() -> None:
    meter_map = known_map("abb_b23")
    assert resolve_map("abb_b23") is meter_map
    assert resolve_map(meter_map) is meter_map
