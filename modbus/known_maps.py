"""Register maps of common site meters, as data.

Addresses are 0-based PDU addresses. Scales turn the raw number into A, V, W and Wh.
Each map cites where its addresses come from; conflicts between sources are noted.
"""

from modbus.codec import DataType, RegisterPoint, WordOrder
from modbus.errors import MeterMapError
from modbus.meter_map import (
    READ_HOLDING_REGISTERS,
    READ_INPUT_REGISTERS,
    MeterMap,
    Quantity,
)
from modbus.sunspec import METER_MODEL_IDS, sunspec_meter_map

I1, I2, I3 = Quantity.CURRENT_L1, Quantity.CURRENT_L2, Quantity.CURRENT_L3
U1, U2, U3 = Quantity.VOLTAGE_L1, Quantity.VOLTAGE_L2, Quantity.VOLTAGE_L3
P, E_IMPORT = Quantity.POWER, Quantity.ENERGY_IMPORT

F32, F64 = DataType.FLOAT32, DataType.FLOAT64
I32, U32, I64, U64 = DataType.INT32, DataType.UINT32, DataType.INT64, DataType.UINT64
CDAB = WordOrder.LITTLE

KWH = 1000.0  # kWh -> Wh

# Eastron SDM630 v2 and SDM72D-M v2: FC4, float32 ABCD, V / A / W / kWh.
# Source: mbmd meters/rs485/sdm.go and sdm72v2.go; OpenEMS MeterEastronSdm630Impl;
# SmartEVSE meter.cpp "Eastron3P". Eastron: at most 80 registers per request.
# (SDM72D-M v1 has no per-phase values and is deliberately absent.)
_EASTRON = {
    U1: RegisterPoint(0x00, F32),
    U2: RegisterPoint(0x02, F32),
    U3: RegisterPoint(0x04, F32),
    I1: RegisterPoint(0x06, F32),
    I2: RegisterPoint(0x08, F32),
    I3: RegisterPoint(0x0A, F32),
    P: RegisterPoint(0x34, F32),
    E_IMPORT: RegisterPoint(0x48, F32, scale=KWH),
}


def _carlo_gavazzi(import_energy_address: int) -> dict[Quantity, RegisterPoint]:
    """Carlo Gavazzi EM24/EM340 family: FC4, signed int32 word-swapped (CDAB).

    0.1 V, mA, 0.1 W, 0.1 kWh. Only the import energy register differs by model.
    """
    return {
        U1: RegisterPoint(0x00, I32, CDAB, scale=0.1),
        U2: RegisterPoint(0x02, I32, CDAB, scale=0.1),
        U3: RegisterPoint(0x04, I32, CDAB, scale=0.1),
        I1: RegisterPoint(0x0C, I32, CDAB, scale=0.001),
        I2: RegisterPoint(0x0E, I32, CDAB, scale=0.001),
        I3: RegisterPoint(0x10, I32, CDAB, scale=0.001),
        P: RegisterPoint(0x28, I32, CDAB, scale=0.1),
        E_IMPORT: RegisterPoint(import_energy_address, I32, CDAB, scale=0.1 * KWH),
    }


# ABB B23/B24: FC3, ABCD; V, I uint32; P int32; E uint64. 0.1 V, 0.01 A, 0.01 W, 0.01 kWh.
# Source: mbmd meters/rs485/abb.go (invalid markers: all-0xFF unsigned, 0x7FFF... signed);
# SmartEVSE meter.cpp "ABB B23 212-100".
_ABB_U32_INVALID = frozenset({0xFFFF_FFFF})
_ABB_I32_INVALID = frozenset({0x7FFF_FFFF})
_ABB_U64_INVALID = frozenset({0xFFFF_FFFF_FFFF_FFFF})
_ABB_B23 = {
    U1: RegisterPoint(0x5B00, U32, scale=0.1, no_reading=_ABB_U32_INVALID),
    U2: RegisterPoint(0x5B02, U32, scale=0.1, no_reading=_ABB_U32_INVALID),
    U3: RegisterPoint(0x5B04, U32, scale=0.1, no_reading=_ABB_U32_INVALID),
    I1: RegisterPoint(0x5B0C, U32, scale=0.01, no_reading=_ABB_U32_INVALID),
    I2: RegisterPoint(0x5B0E, U32, scale=0.01, no_reading=_ABB_U32_INVALID),
    I3: RegisterPoint(0x5B10, U32, scale=0.01, no_reading=_ABB_U32_INVALID),
    P: RegisterPoint(0x5B14, I32, scale=0.01, no_reading=_ABB_I32_INVALID),
    E_IMPORT: RegisterPoint(0x5000, U64, scale=0.01 * KWH, no_reading=_ABB_U64_INVALID),
}

# Janitza UMG 96RM-E (also UMG 801/806): FC3, float32 ABCD, V / A / W / Wh.
# Source: OpenEMS io.openems.edge.meter.janitza umg96rme. The Janitza B23 map in mbmd
# meters/rs485/janitza.go (0x4A38.., 0x4A44.., 0x4A52, 0x4A7C) is the same addresses
# written in hex (0x4A38 = 19000).
_JANITZA = {
    U1: RegisterPoint(19000, F32),
    U2: RegisterPoint(19002, F32),
    U3: RegisterPoint(19004, F32),
    I1: RegisterPoint(19012, F32),
    I2: RegisterPoint(19014, F32),
    I3: RegisterPoint(19016, F32),
    P: RegisterPoint(19026, F32),
    E_IMPORT: RegisterPoint(19068, F32),
}

# Siemens PAC2200: float32 ABCD, V / A / W; import energy float64 in Wh.
# Source: mbmd meters/rs485/pac2200.go (FC4); OpenEMS MeterSiemensPac2200Impl reads the
# same addresses with FC3 (energy FloatQuadruplewordElement(801)).
_SIEMENS_PAC2200 = {
    U1: RegisterPoint(1, F32),
    U2: RegisterPoint(3, F32),
    U3: RegisterPoint(5, F32),
    I1: RegisterPoint(13, F32),
    I2: RegisterPoint(15, F32),
    I3: RegisterPoint(17, F32),
    P: RegisterPoint(65, F32),
    E_IMPORT: RegisterPoint(801, F64),
}

# Schneider iEM3000 (iEM3x5x): FC3, float32 ABCD (power in kW); import energy int64 Wh.
# Source: mbmd meters/rs485/iem3000.go. (SmartEVSE reads float32 kWh at 0xB02B instead.)
_SCHNEIDER_IEM3000 = {
    I1: RegisterPoint(0x0BB7, F32),
    I2: RegisterPoint(0x0BB9, F32),
    I3: RegisterPoint(0x0BBB, F32),
    U1: RegisterPoint(0x0BD3, F32),
    U2: RegisterPoint(0x0BD5, F32),
    U3: RegisterPoint(0x0BD7, F32),
    P: RegisterPoint(0x0BF3, F32, scale=1000.0),
    E_IMPORT: RegisterPoint(0x0C83, I64),
}

# Socomec Countis E23/E24/E27/E28/E34/E44: FC3, ABCD integers with fixed scale:
# 0.01 V, mA, 10 W, 10 Wh. Source: OpenEMS MeterSocomecThreephaseImpl (identifiedCountis*).
_SOCOMEC_COUNTIS = {
    U1: RegisterPoint(0xC558, U32, scale=0.01),
    U2: RegisterPoint(0xC55A, U32, scale=0.01),
    U3: RegisterPoint(0xC55C, U32, scale=0.01),
    I1: RegisterPoint(0xC560, U32, scale=0.001),
    I2: RegisterPoint(0xC562, U32, scale=0.001),
    I3: RegisterPoint(0xC564, U32, scale=0.001),
    P: RegisterPoint(0xC568, I32, scale=10.0),
    E_IMPORT: RegisterPoint(0xC702, U32, scale=10.0),
}

# Finder 7M.38: FC4, float32 ABCD, V / A / W / Wh. Source: mbmd meters/rs485/finder7m38.go.
# Conflict: SmartEVSE meter.cpp reads import energy at 2638 on a 7M.38.8.400.0212.
_FINDER_7M = {
    U1: RegisterPoint(2500, F32),
    U2: RegisterPoint(2502, F32),
    U3: RegisterPoint(2504, F32),
    I1: RegisterPoint(2516, F32),
    I2: RegisterPoint(2518, F32),
    I3: RegisterPoint(2520, F32),
    P: RegisterPoint(2536, F32),
    E_IMPORT: RegisterPoint(2752, F32),
}

# Phoenix Contact EEM-MB370: FC3, float32 word-swapped (CDAB), V / A / W / Wh.
# Source: OpenEMS io.openems.edge.meter.phoenixcontact PhoenixContactMeterImpl.
_PHOENIX_EEM_MB370 = {
    U1: RegisterPoint(0x8006, F32, CDAB),
    U2: RegisterPoint(0x8008, F32, CDAB),
    U3: RegisterPoint(0x800A, F32, CDAB),
    I1: RegisterPoint(0x800E, F32, CDAB),
    I2: RegisterPoint(0x8010, F32, CDAB),
    I3: RegisterPoint(0x8012, F32, CDAB),
    P: RegisterPoint(0x8016, F32, CDAB),
    E_IMPORT: RegisterPoint(0x8100, F32, CDAB),
}

_MAPS: dict[str, MeterMap] = {
    meter_map.name: meter_map
    for meter_map in (
        MeterMap("eastron_sdm630", READ_INPUT_REGISTERS, _EASTRON, max_registers_per_read=80),
        MeterMap("eastron_sdm72d_m_v2", READ_INPUT_REGISTERS, _EASTRON, max_registers_per_read=80),
        MeterMap("carlo_gavazzi_em24", READ_INPUT_REGISTERS, _carlo_gavazzi(0x42)),
        MeterMap("carlo_gavazzi_em340", READ_INPUT_REGISTERS, _carlo_gavazzi(0x34)),
        MeterMap("abb_b23", READ_HOLDING_REGISTERS, _ABB_B23),
        MeterMap("abb_b24", READ_HOLDING_REGISTERS, _ABB_B23),
        MeterMap("janitza_umg96rm_e", READ_HOLDING_REGISTERS, _JANITZA),
        MeterMap("janitza_b23", READ_HOLDING_REGISTERS, _JANITZA),
        MeterMap("siemens_pac2200", READ_INPUT_REGISTERS, _SIEMENS_PAC2200),
        MeterMap("schneider_iem3000", READ_HOLDING_REGISTERS, _SCHNEIDER_IEM3000),
        MeterMap("socomec_countis", READ_HOLDING_REGISTERS, _SOCOMEC_COUNTIS),
        MeterMap("finder_7m", READ_INPUT_REGISTERS, _FINDER_7M),
        MeterMap("phoenix_contact_eem_mb370", READ_HOLDING_REGISTERS, _PHOENIX_EEM_MB370),
        *(sunspec_meter_map(model_id) for model_id in METER_MODEL_IDS),
    )
}


def known_map_names() -> list[str]:
    return sorted(_MAPS)


def known_map(name: str, *, key: str = "meter.map") -> MeterMap:
    """The built-in map called `name`; `key` names the config entry in the error."""
    try:
        return _MAPS[name]
    except KeyError:
        known = ", ".join(known_map_names())
        raise MeterMapError([f"{key}: unknown meter map {name!r} (known: {known})"]) from None


def resolve_map(meter_map: MeterMap | str) -> MeterMap:
    """A map given either by name or as a `MeterMap` (e.g. a custom map)."""
    return known_map(meter_map) if isinstance(meter_map, str) else meter_map
