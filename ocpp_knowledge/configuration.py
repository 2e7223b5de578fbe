"""A charger's configuration as the LC reads it: the settings by their names in each version
(1.6 GetConfiguration keys, 2.0.1 GetVariables component and variable), the call that asks for
them and the values in its answer.

The values are text the charger chose: read totally, anything unreadable is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SMART_CHARGING_CTRLR = "SmartChargingCtrlr"
TX_CTRLR = "TxCtrlr"


@dataclass(frozen=True, slots=True)
class Setting:
    """One charger setting by its name in each version."""

    v16_key: str | None  # None: 1.6 has no such key
    component: str
    variable: str


SMART_CHARGING_ENABLED = Setting(None, SMART_CHARGING_CTRLR, "Enabled")
MAX_STACK_LEVEL = Setting("ChargeProfileMaxStackLevel", SMART_CHARGING_CTRLR, "ProfileStackLevel")
RATE_UNITS = Setting("ChargingScheduleAllowedChargingRateUnit", SMART_CHARGING_CTRLR, "RateUnit")
STOP_TX_ON_INVALID_ID = Setting("StopTransactionOnInvalidId", TX_CTRLR, "StopTxOnInvalidId")

# No charger has a stack level with more digits; int() refuses thousands of them.
_MAX_STACK_LEVEL_DIGITS = 9


def configuration_query(v16: bool, settings: Sequence[Setting]) -> tuple[str, dict[str, Any]]:
    """The one call that reads `settings` (those 1.6 has): its action and payload."""
    if v16:
        keys = [setting.v16_key for setting in settings if setting.v16_key is not None]
        return "GetConfiguration", {"key": keys}
    data = [
        {"component": {"name": setting.component}, "variable": {"name": setting.variable}}
        for setting in settings
    ]
    return "GetVariables", {"getVariableData": data}


def configuration_values(
    v16: bool, settings: Sequence[Setting], answer: dict[str, Any]
) -> dict[Setting, str | None]:
    """Each of `settings` as the answer to `configuration_query` gives it; None where the
    charger did not know it, did not accept the read, or sent anything but text."""
    found: dict[tuple[Any, ...], Any] = {}
    if v16:
        keys = answer.get("configurationKey")
        for item in keys if isinstance(keys, list) else []:
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                found[(item["key"],)] = item.get("value")
    else:
        results = answer.get("getVariableResult")
        for item in results if isinstance(results, list) else []:
            if not isinstance(item, dict) or item.get("attributeStatus") != "Accepted":
                continue
            component, variable = item.get("component"), item.get("variable")
            if isinstance(component, dict) and isinstance(variable, dict):
                found[(component.get("name"), variable.get("name"))] = item.get("attributeValue")
    values: dict[Setting, str | None] = {}
    for setting in settings:
        name = (setting.v16_key,) if v16 else (setting.component, setting.variable)
        value = found.get(name)
        values[setting] = value if isinstance(value, str) else None
    return values


def stack_level(value: object) -> int | None:
    """A charger's highest stack level (1.6 ChargeProfileMaxStackLevel, 2.0.1
    SmartChargingCtrlr.ProfileStackLevel), or None when the text is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    # ASCII digits only: str.isdigit accepts "²", which int() refuses.
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_STACK_LEVEL_DIGITS:
        return None
    return int(text)
