"""The site meter as the LC's own MeterValues on EVSE 0 (2.0.1 J01, clock-aligned), pure.

The CSMS sees the garage's consumption as the LC's: per-phase current, total active power and
the import register, each only when the meter gives it. `SampledDataCtrlr.AlignedDataInterval`
says how often (aligned to midnight UTC, 0: never) and `AlignedDataMeasurands` which of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ocpp_knowledge.ocpp_time import to_ocpp_time

CURRENT = "Current.Import"
POWER = "Power.Active.Import"
ENERGY = "Energy.Active.Import.Register"
MEASURANDS = (CURRENT, POWER, ENERGY)  # what a site meter can give, in the order sent
SECONDS_PER_DAY = 86_400
_PHASES = ("L1", "L2", "L3")


def parse_measurands(text: str) -> tuple[str, ...]:
    """A measurand list (comma-separated) the LC can sample, or ValueError."""
    chosen = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in chosen if name not in MEASURANDS]
    if unknown or len(set(chosen)) != len(chosen):
        raise ValueError(f"not measurands the site meter gives: {', '.join(unknown) or text}")
    return chosen


def next_aligned(now: float, interval_s: int) -> float:
    """The first clock-aligned sampling time after `now` (wall seconds): a whole number of
    intervals since the day's midnight UTC, the next midnight starting the count again."""
    midnight = now - now % SECONDS_PER_DAY
    following = midnight + (((now - midnight) // interval_s) + 1) * interval_s
    return min(following, midnight + SECONDS_PER_DAY)


class SiteReading(Protocol):
    """What a meter poll gives (modbus.reader.MeterReading); None where it has no value."""

    @property
    def currents(self) -> tuple[float | None, float | None, float | None]: ...
    @property
    def power_w(self) -> float | None: ...
    @property
    def energy_import_wh(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class _Sampled:
    measurand: str
    value: float
    unit: str
    phase: str | None = None


def meter_values_request(
    reading: SiteReading, measurands: tuple[str, ...], at: float, context: str = "Sample.Clock"
) -> dict[str, Any] | None:
    """The MeterValuesRequest for EVSE 0 from `reading` at wall time `at` (`context`: Trigger
    when the CSMS asked for it); None when the meter gives none of `measurands`."""
    sampled: list[_Sampled] = []
    for measurand in measurands:
        if measurand == CURRENT:
            sampled += [
                _Sampled(CURRENT, current, "A", phase)
                for phase, current in zip(_PHASES, reading.currents, strict=True)
                if current is not None
            ]
        elif measurand == POWER and reading.power_w is not None:
            sampled.append(_Sampled(POWER, reading.power_w, "W"))
        elif measurand == ENERGY and reading.energy_import_wh is not None:
            sampled.append(_Sampled(ENERGY, reading.energy_import_wh, "Wh"))
    if not sampled:
        return None
    return {
        "evseId": 0,
        "meterValue": [
            {
                "timestamp": to_ocpp_time(datetime.fromtimestamp(at, UTC)),
                "sampledValue": [_json(value, context) for value in sampled],
            }
        ],
    }


def _json(sampled: _Sampled, context: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "value": sampled.value,
        "context": context,
        "location": "Inlet",  # the site meter measures at the grid connection
        "measurand": sampled.measurand,
        "unitOfMeasure": {"unit": sampled.unit},
    }
    if sampled.phase is not None:
        entry["phase"] = sampled.phase
    return entry
