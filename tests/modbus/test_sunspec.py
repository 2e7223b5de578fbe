"""SunSpec discovery over a fake register space (the read callback is the seam)."""

import pytest

from modbus.errors import MeterExceptionReply, MeterReadError, SunSpecError
from modbus.known_maps import known_map
from modbus.meter_map import Quantity
from modbus.sunspec import ModelLocation, build_model_chain, find_model, locate

ILLEGAL_DATA_ADDRESS = 2


class FakeDevice:
    """Holding registers at given addresses; anything else answers exception 2."""

    def __init__(self, registers: dict[int, int]) -> None:
        self.registers = registers
        self.reads: list[tuple[int, int]] = []

    async def read(self, address: int, count: int) -> list[int]:
        self.reads.append((address, count))
        try:
            return [self.registers[address + offset] for offset in range(count)]
        except KeyError:
            raise MeterExceptionReply(3, address, ILLEGAL_DATA_ADDRESS) from None


def chain(base: int, *models: tuple[int, int]) -> dict[int, int]:
    """A register space: "SunS", then (id, length) models with zero bodies, then the end."""
    values = [0x5375, 0x6E53]
    for model_id, length in models:
        values += [model_id, length] + [0] * length
    values += [0xFFFF, 0]
    return dict(enumerate(values, start=base))


@pytest.mark.parametrize("base", [40000, 0, 50000])
async def test_model_found_at_each_base(base: int) -> None:
    device = FakeDevice(chain(base, (1, 66), (203, 105)))
    assert await find_model(device.read, {203}) == ModelLocation(base, 203, base + 70, 105)


async def test_bases_are_tried_in_order_and_a_wrong_marker_is_skipped() -> None:
    registers = chain(50000, (1, 66), (201, 105))
    registers |= {0: 0x1234, 1: 0x5678}  # something else lives at 0
    device = FakeDevice(registers)
    location = await find_model(device.read, {201})
    assert location.base == 50000
    assert device.reads[:3] == [(40000, 2), (0, 2), (50000, 2)]


async def test_other_models_are_walked_past() -> None:
    # Common model, an inverter model (103, L=50), then the meter.
    device = FakeDevice(chain(40000, (1, 65), (103, 50), (213, 124)))
    location = await find_model(device.read, {201, 202, 203, 204, 211, 212, 213, 214})
    assert location == ModelLocation(40000, 213, 40000 + 2 + 67 + 52, 124)


async def test_first_of_several_wanted_models_wins() -> None:
    device = FakeDevice(chain(0, (1, 66), (202, 105), (203, 105)))
    assert (await find_model(device.read, {202, 203})).model_id == 202


async def test_end_model_without_length_is_accepted() -> None:
    registers = chain(40000, (1, 66))
    del registers[max(registers)]  # the end model's length register does not exist
    with pytest.raises(
        SunSpecError, match=r"no SunSpec model 203 in the chain at 40000; models found: \[1\]"
    ):
        await find_model(FakeDevice(registers).read, {203})


async def test_no_marker_anywhere() -> None:
    with pytest.raises(SunSpecError, match="no SunSpec marker 'SunS'"):
        await find_model(FakeDevice({}).read, {203})


async def test_connection_failure_ends_discovery() -> None:
    async def unreachable(address: int, count: int) -> list[int]:
        raise MeterReadError("cannot connect")

    with pytest.raises(MeterReadError, match="cannot connect"):
        await find_model(unreachable, {203})


async def test_locate_places_the_map_at_the_model() -> None:
    device = FakeDevice(chain(40000, (1, 66), (203, 105)))
    placed = await locate(device.read, known_map("sunspec_203"))
    assert placed.points[Quantity.CURRENT_L1].address == 40070 + 3
    assert placed.points[Quantity.CURRENT_L1].scale_factor_address == 40070 + 6
    assert placed.read_blocks[0].address == 40073


async def test_locate_rejects_a_model_too_short_for_its_points() -> None:
    device = FakeDevice(chain(40000, (1, 66), (203, 40)))
    with pytest.raises(SunSpecError, match="SunSpec model 203 at 40070 has length 40"):
        await locate(device.read, known_map("sunspec_203"))


@pytest.mark.parametrize("base", [40000, 0, 50000])
async def test_built_chain_is_what_discovery_walks(base: int) -> None:
    built = build_model_chain(base, 213, unit_id=7, model_name="sunspec_213")
    location = await find_model(FakeDevice(built.registers).read, {213})
    assert location.address == built.model_address == base + 70
    common = base + 2
    assert (built.registers[common], built.registers[common + 1]) == (1, 66)
    assert built.registers[common + 66] == 7  # DA: the Modbus unit id
    end = built.model_address + 2 + 124
    assert built.registers[end] == 0xFFFF
