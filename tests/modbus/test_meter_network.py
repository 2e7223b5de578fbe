"""Simulated meter (pymodbus server) <-> MeterReader over real sockets on 127.0.0.1."""

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from modbus.custom_map import custom_map_from_dict
from modbus.errors import MeterExceptionReply, MeterReadError, SunSpecError
from modbus.known_maps import known_map, known_map_names
from modbus.link import MeterLink, SerialLink, TcpLink
from modbus.meter_map import CURRENTS, VOLTAGES, MeterMap, Quantity
from modbus.reader import MeterConfig, MeterReader, PolledReading
from modbus.simulator import SimulatedMeter
from tests.peers import wait_until

pytestmark = pytest.mark.timeout(15)

TIMEOUT_S = 0.3
MODBUS_TCP_READ_REQUEST_BYTES = 12  # MBAP header 7 + function code, address, count 5
CURRENTS_A = (12.5, 7.25, 3.0)
VOLTAGES_V = (230.1, 229.8, 231.4)
POWER_W = 11040.0
ENERGY_WH = 1_234_500.0  # a whole number of 10 Wh, the coarsest energy unit among the maps


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


MakeReader = Callable[..., MeterReader]


@pytest.fixture
def make_reader() -> Iterator[MakeReader]:
    readers: list[MeterReader] = []

    def make(
        link: MeterLink,
        meter_map: MeterMap | str,
        *,
        unit_id: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> MeterReader:
        config = MeterConfig(link, meter_map, unit_id=unit_id, timeout_s=TIMEOUT_S, retries=0)
        reader = MeterReader(config, clock=clock)
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.close()


def assert_phases(
    actual: tuple[float | None, ...],
    meter_map: MeterMap,
    quantities: tuple[Quantity, ...],
    values: tuple[float, ...],
) -> None:
    """Phases the map has read as `values`; phases it lacks read as None."""
    for got, quantity, value in zip(actual, quantities, values, strict=True):
        if quantity in meter_map.points:
            assert got == pytest.approx(value, rel=1e-6)
        else:
            assert got is None


def assert_reading(
    reading: PolledReading, meter_map: MeterMap, currents: tuple[float, float, float]
) -> None:
    assert_phases(reading.currents, meter_map, CURRENTS, currents)
    assert_phases(reading.voltages, meter_map, VOLTAGES, VOLTAGES_V)
    assert reading.power_w == pytest.approx(POWER_W, rel=1e-6)
    assert reading.energy_import_wh == pytest.approx(ENERGY_WH, rel=1e-6)


@pytest.mark.parametrize("name", known_map_names())
async def test_every_map_round_trips_over_modbus_tcp(name: str, make_reader: MakeReader) -> None:
    async with SimulatedMeter(name) as meter:
        meter.set_reading(
            currents=CURRENTS_A, voltages=VOLTAGES_V, power_w=POWER_W, energy_wh=ENERGY_WH
        )
        reader = make_reader(meter.link, name)
        assert_reading(await reader.read(), meter.meter_map, CURRENTS_A)

        # Values change while the meter runs; 0 A reads as 0, not as "no reading".
        meter.set_reading(currents=(20.0, 0.0, 16.0))
        assert_reading(await reader.read(), meter.meter_map, (20.0, 0.0, 16.0))


@pytest.mark.parametrize("name", ["carlo_gavazzi_em24", "sunspec_203"])
async def test_rtu_over_tcp_round_trip(name: str, make_reader: MakeReader) -> None:
    async with SimulatedMeter(name, rtu_framing=True, unit_id=12) as meter:
        meter.set_reading(
            currents=CURRENTS_A, voltages=VOLTAGES_V, power_w=POWER_W, energy_wh=ENERGY_WH
        )
        reader = make_reader(meter.link, name, unit_id=12)
        assert_reading(await reader.read(), meter.meter_map, CURRENTS_A)


async def test_serial_client_round_trip(make_reader: MakeReader) -> None:
    # pyserial opens "socket://" URLs, so the serial (RTU) client runs against the
    # RTU-framed server without hardware.
    async with SimulatedMeter("eastron_sdm630", rtu_framing=True) as meter:
        meter.set_reading(
            currents=CURRENTS_A, voltages=VOLTAGES_V, power_w=POWER_W, energy_wh=ENERGY_WH
        )
        reader = make_reader(SerialLink(f"socket://127.0.0.1:{meter.link.port}"), "eastron_sdm630")
        assert_reading(await reader.read(), meter.meter_map, CURRENTS_A)


@pytest.mark.parametrize("base", [40000, 0, 50000])
async def test_sunspec_discovery_at_each_base(base: int, make_reader: MakeReader) -> None:
    async with SimulatedMeter("sunspec_213", sunspec_base=base, unit_id=3) as meter:
        meter.set_reading(
            currents=CURRENTS_A, voltages=VOLTAGES_V, power_w=POWER_W, energy_wh=ENERGY_WH
        )
        reader = make_reader(meter.link, "sunspec_213", unit_id=3)
        assert_reading(await reader.read(), meter.meter_map, CURRENTS_A)


async def test_sunspec_model_not_on_the_device(make_reader: MakeReader) -> None:
    async with SimulatedMeter("sunspec_201") as meter:
        reader = make_reader(meter.link, "sunspec_203")
        with pytest.raises(SunSpecError, match=r"no SunSpec model 203 .* models found: \[1, 201\]"):
            await reader.read()
        assert reader.last_reading is None


async def test_sentinels_read_as_no_reading_not_zero(make_reader: MakeReader) -> None:
    async with SimulatedMeter("abb_b23") as meter:
        meter.set_reading(currents=CURRENTS_A)
        meter.set_no_reading(Quantity.CURRENT_L2, Quantity.POWER)
        reading = await make_reader(meter.link, "abb_b23").read()
        assert reading.currents == (12.5, None, 3.0)
        assert reading.power_w is None
        # The ABB "invalid" marker is all-0xFF on the wire.
        l2 = meter.meter_map.points[Quantity.CURRENT_L2].address
        assert [meter.meter_map.points[Quantity.CURRENT_L2].data_type.register_count, l2] == [
            2,
            0x5B0E,
        ]


async def test_nan_float_reads_as_no_reading(make_reader: MakeReader) -> None:
    async with SimulatedMeter("eastron_sdm630") as meter:
        meter.set_reading(currents=CURRENTS_A)
        meter.set_no_reading(Quantity.CURRENT_L3)
        reading = await make_reader(meter.link, "eastron_sdm630").read()
        assert reading.currents == (12.5, 7.25, None)


async def test_unset_sunspec_scale_factor_reads_as_no_reading(make_reader: MakeReader) -> None:
    async with SimulatedMeter("sunspec_203") as meter:
        meter.set_reading(currents=CURRENTS_A, voltages=VOLTAGES_V)
        a_sf = meter.meter_map.points[Quantity.CURRENT_L1].scale_factor_address
        assert a_sf == 6
        meter.write_registers(40000 + 70 + a_sf, [0x8000])
        reading = await make_reader(meter.link, "sunspec_203").read()
        assert reading.currents == (None, None, None)
        assert list(reading.voltages) == pytest.approx(list(VOLTAGES_V))


async def test_unplugged_meter_gives_no_reading_promptly_and_recovers(
    make_reader: MakeReader,
) -> None:
    clock = FakeClock()
    meter = SimulatedMeter("carlo_gavazzi_em340")
    await meter.start()
    try:
        meter.set_reading(currents=CURRENTS_A)
        reader = make_reader(meter.link, "carlo_gavazzi_em340", clock=clock)
        first = await reader.read()
        assert first.taken_at == 1000.0

        await meter.stop()
        for _ in range(3):  # the open connection dies, then reconnecting is refused
            clock.now += 1.0
            with pytest.raises(MeterReadError):
                # bounded: a read gives up by itself (generously, however loaded the machine)
                await asyncio.wait_for(reader.read(), 20 * TIMEOUT_S)
        assert reader.last_reading is first
        assert first.age(clock.now) == 3.0

        await meter.start()  # plugged back in, same port
        meter.set_reading(currents=(1.0, 2.0, 3.0))
        clock.now += 1.0
        again = await reader.read()
        assert again.currents == pytest.approx((1.0, 2.0, 3.0))
        assert reader.last_reading is again
        assert again.age(clock.now) == 0.0
    finally:
        await meter.stop()


async def test_silent_meter_times_out(make_reader: MakeReader) -> None:
    received = bytearray()

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(260):  # never answers; ends when the client hangs up
            received.extend(chunk)
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader = make_reader(TcpLink("127.0.0.1", port), "eastron_sdm630")
        with pytest.raises(MeterReadError, match="No response"):
            await reader.read()
        # It gave up on its one request (retries = 0) rather than sending it again.
        await wait_until(lambda: len(received) > 0, what="the request at the meter")
        assert len(received) == MODBUS_TCP_READ_REQUEST_BYTES
    finally:
        server.close()
        await server.wait_closed()


async def test_wrong_function_code_is_an_exception_reply(make_reader: MakeReader) -> None:
    eastron = known_map("eastron_sdm630")
    holding = MeterMap("holding", 3, eastron.points)  # Eastron values are input registers
    async with SimulatedMeter(eastron) as meter:
        with pytest.raises(MeterExceptionReply) as caught:
            await make_reader(meter.link, holding).read()
        assert caught.value.exception_code == 2  # illegal data address


async def test_custom_map_from_config_against_a_simulated_meter(make_reader: MakeReader) -> None:
    phase = {"type": "uint32", "scale": 0.01, "word_order": "CDAB", "no_reading": [0xFFFFFFFF]}
    custom = custom_map_from_dict(
        {
            "function_code": 3,
            "current_l1": {"address": 100, **phase},
            "current_l2": {"address": 102, **phase},
            "current_l3": {"address": 104, **phase},
            "power": {"address": 200, "type": "int16", "scale": 10},
        }
    )
    async with SimulatedMeter(custom) as meter:
        meter.set_reading(currents=(6.0, 16.5, 32.0), power_w=-2500.0)
        meter.set_no_reading(Quantity.CURRENT_L1)
        reading = await make_reader(meter.link, custom).read()
        assert reading.currents[0] is None
        assert reading.currents[1:] == pytest.approx((16.5, 32.0))
        assert reading.power_w == -2500.0  # exporting
        assert reading.voltages == (None, None, None)  # not in the map


async def test_writing_an_unserved_register_is_refused() -> None:
    meter = SimulatedMeter("eastron_sdm630")
    with pytest.raises(KeyError, match="register 500"):
        meter.write_registers(500, [1])
