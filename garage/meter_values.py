"""A charger meter sample as OCPP sampledValue entries: current per phase (charger phase order,
so a site must map them through the charger's phase rotation), total power, import register.

1.6 carries values as strings with `unit`; 2.0.1 as numbers with `unitOfMeasure`. Keys are
snake_case: the ocpp package turns them into camelCase on the way out.
"""

from __future__ import annotations

from typing import Any

from garage.profile_store import ChargePointVersion
from garage.station import MeterSample

CHARGER_PHASES = ("L1", "L2", "L3")


def sampled_values(
    sample: MeterSample, *, context: str, version: ChargePointVersion
) -> list[dict[str, Any]]:
    readings: list[tuple[str, str | None, float, str]] = [
        ("Current.Import", phase, current, "A")
        for phase, current in zip(CHARGER_PHASES, sample.currents, strict=True)
    ]
    readings.append(("Power.Active.Import", None, sample.power_w, "W"))
    readings.append(("Energy.Active.Import.Register", None, sample.energy_wh, "Wh"))
    values = []
    for measurand, phase, value, unit in readings:
        entry: dict[str, Any] = {"measurand": measurand, "context": context, "location": "Outlet"}
        if phase is not None:
            entry["phase"] = phase
        if version == "1.6":
            entry |= {"value": f"{value:.1f}", "unit": unit}
        else:
            entry |= {"value": round(value, 1), "unit_of_measure": {"unit": unit}}
        values.append(entry)
    return values
