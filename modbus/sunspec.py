"""SunSpec meters: model layouts (201-204, 211-214), discovery, and the model chain.

Source: sunspec/models `json/model_1.json`, `model_201..204.json`, `model_211..214.json`
(offsets from the model header, ID at +0, length L at +1); discovery follows
sunspec/pysunspec2 `sunspec2/modbus/client.py` `scan()`. SunSpec uses holding registers.

Discovery is pure walking logic over a `RegisterRead` callback, so it is tested
without a network; the reader passes its Modbus client's read.
"""

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from modbus.codec import DataType, RegisterPoint
from modbus.errors import MeterExceptionReply, SunSpecError
from modbus.meter_map import CURRENTS, READ_HOLDING_REGISTERS, VOLTAGES, MeterMap, Quantity

BASE_ADDRESSES = (40000, 0, 50000)  # tried in this order, as pysunspec2 does
MARKER = (0x5375, 0x6E53)  # "SunS"
END_MODEL_ID = 0xFFFF
COMMON_MODEL_ID = 1
COMMON_MODEL_LENGTH = 66

# Reads `count` holding registers at `address`.
RegisterRead = Callable[[int, int], Awaitable[list[int]]]

_NOT_IMPLEMENTED_INT16 = frozenset({0x8000})
_NOT_ACCUMULATED = frozenset({0})  # acc32: 0 means "not accumulated"


def _int_model_points(phases: int) -> dict[Quantity, RegisterPoint]:
    """Models 201-204: int16 values with sunssf scale-factor registers."""

    def int16(offset: int, sf_offset: int) -> RegisterPoint:
        return RegisterPoint(
            offset,
            DataType.INT16,
            no_reading=_NOT_IMPLEMENTED_INT16,
            scale_factor_address=sf_offset,
        )

    points = {
        CURRENTS[phase]: int16(3 + phase, sf_offset=6) for phase in range(phases)
    }  # AphA.. A_SF
    points |= {
        VOLTAGES[phase]: int16(8 + phase, sf_offset=15) for phase in range(phases)
    }  # PhVphA.. V_SF
    points[Quantity.POWER] = int16(18, sf_offset=22)  # W, W_SF
    points[Quantity.ENERGY_IMPORT] = RegisterPoint(  # TotWhImp (acc32), TotWh_SF
        46, DataType.UINT32, no_reading=_NOT_ACCUMULATED, scale_factor_address=54
    )
    return points


def _float_model_points(phases: int) -> dict[Quantity, RegisterPoint]:
    """Models 211-214: float32 values, no scale factors; NaN means not implemented."""
    points = {
        CURRENTS[phase]: RegisterPoint(4 + 2 * phase, DataType.FLOAT32) for phase in range(phases)
    }
    points |= {
        VOLTAGES[phase]: RegisterPoint(12 + 2 * phase, DataType.FLOAT32) for phase in range(phases)
    }
    points[Quantity.POWER] = RegisterPoint(28, DataType.FLOAT32)  # W
    points[Quantity.ENERGY_IMPORT] = RegisterPoint(68, DataType.FLOAT32)  # TotWhImp
    return points


# Model id -> (model length L, points). 201/211 single phase, 202/212 split phase,
# 203/213 wye, 204/214 delta (whose L-N voltages read as not implemented).
_METER_MODELS: dict[int, tuple[int, dict[Quantity, RegisterPoint]]] = {
    201: (105, _int_model_points(phases=1)),
    202: (105, _int_model_points(phases=2)),
    203: (105, _int_model_points(phases=3)),
    204: (105, _int_model_points(phases=3)),
    211: (124, _float_model_points(phases=1)),
    212: (124, _float_model_points(phases=2)),
    213: (124, _float_model_points(phases=3)),
    214: (124, _float_model_points(phases=3)),
}

METER_MODEL_IDS = tuple(_METER_MODELS)


def sunspec_meter_map(model_id: int) -> MeterMap:
    """The map of a SunSpec meter model, addresses relative to the model header."""
    _, points = _METER_MODELS[model_id]
    return MeterMap(
        name=f"sunspec_{model_id}",
        function_code=READ_HOLDING_REGISTERS,
        points=points,
        sunspec_model=model_id,
    )


@dataclass(frozen=True, slots=True)
class ModelLocation:
    base: int  # address of the "SunS" marker
    model_id: int
    address: int  # address of the model header (its ID register)
    length: int  # L: registers after the two header registers


async def find_base(read: RegisterRead) -> int:
    """The first base address that holds the "SunS" marker."""
    for base in BASE_ADDRESSES:
        try:
            registers = await read(base, len(MARKER))
        except MeterExceptionReply:
            # The device answered that nothing is there: try the next base. Any other
            # failure (timeout, no connection) says nothing about the layout and ends
            # the discovery.
            continue
        if tuple(registers) == MARKER:
            return base
    raise SunSpecError(f"no SunSpec marker 'SunS' at any of {BASE_ADDRESSES}")


async def find_model(read: RegisterRead, model_ids: Collection[int]) -> ModelLocation:
    """Walk the model chain to the first model whose id is in `model_ids`."""
    base = await find_base(read)
    address = base + len(MARKER)
    seen: list[int] = []
    while address < 0xFFFF:
        # ID and length are read separately because some devices do not supply a
        # length for the end model (pysunspec2 does the same).
        (model_id,) = await read(address, 1)
        if model_id == END_MODEL_ID:
            break
        (length,) = await read(address + 1, 1)
        if model_id in model_ids:
            return ModelLocation(base, model_id, address, length)
        seen.append(model_id)
        address += 2 + length
    wanted = ", ".join(str(model_id) for model_id in sorted(model_ids))
    raise SunSpecError(f"no SunSpec model {wanted} in the chain at {base}; models found: {seen}")


async def locate(read: RegisterRead, meter_map: MeterMap) -> MeterMap:
    """`meter_map` (a SunSpec map) placed at the address where the device has its model."""
    if meter_map.sunspec_model is None:
        raise ValueError(f"{meter_map.name} is not a SunSpec map")
    location = await find_model(read, (meter_map.sunspec_model,))
    if 2 + location.length < meter_map.end_address:
        raise SunSpecError(
            f"SunSpec model {location.model_id} at {location.address} has length "
            f"{location.length}, too short for its points"
        )
    return meter_map.shifted(location.address)


@dataclass(frozen=True, slots=True)
class ModelChain:
    registers: dict[int, int]  # address -> value, marker to end model inclusive
    model_address: int


def build_model_chain(base: int, model_id: int, *, unit_id: int, model_name: str) -> ModelChain:
    """A device's SunSpec register space: marker, common model 1, the meter model, end.

    The meter model's body is zero; the caller writes its values. This is the layout
    that `find_model` walks, used by the simulated meter.
    """
    common = [COMMON_MODEL_ID, COMMON_MODEL_LENGTH]
    common += _string_registers("OCPP Local Controller", 16)  # Mn
    common += _string_registers(model_name, 16)  # Md
    common += _string_registers("", 8)  # Opt
    common += _string_registers("1.0", 8)  # Vr
    common += _string_registers("SIM-0001", 16)  # SN
    common += [unit_id, 0]  # DA, Pad
    model_address = base + len(MARKER) + len(common)
    length, _ = _METER_MODELS[model_id]
    model = [model_id, length] + [0] * length
    values = [*MARKER, *common, *model, END_MODEL_ID, 0]
    return ModelChain(dict(enumerate(values, start=base)), model_address)


def _string_registers(text: str, count: int) -> list[int]:
    """SunSpec string: two characters per register, NUL-padded."""
    data = text.encode("ascii").ljust(2 * count, b"\0")
    return [int.from_bytes(data[index : index + 2], "big") for index in range(0, 2 * count, 2)]
