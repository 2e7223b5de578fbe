"""The site meter as the LC's own MeterValues on EVSE 0 (2.0.1 J01, clock-aligned; 1.6:
connector 0), pure.

The CSMS sees the garage's consumption as the LC's: per-phase current, total active power and
the import register, each only when the meter gives it. `SampledDataCtrlr.AlignedDataInterval`
(1.6: ClockAlignedDataInterval) says how often (aligned to midnight UTC, 0: never) and
`AlignedDataMeasurands` (1.6: MeterValuesAlignedData) which of them. The samples are the same
in both versions; `meter_values_201` and `meter_values_16` word the request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
class Sampled:
    measurand: str
    value: float
    unit: str
    phase: str | None = None


# (samples, OCPP time, context) -> the MeterValuesRequest of the LC as a whole.
MeterValuesWording = Callable[[Sequence[Sampled], str, str], dict[str, Any]]
LOCATION = "Inlet"  # the site meter measures at the grid connection


def sampled_values(reading: SiteReading, measurands: tuple[str, ...]) -> list[Sampled]:
    """What `reading` gives of `measurands`, in their order."""
    sampled: list[Sampled] = []
    for measurand in measurands:
        if measurand == CURRENT:
            sampled += [
                Sampled(CURRENT, current, "A", phase)
                for phase, current in zip(_PHASES, reading.currents, strict=True)
                if current is not None
            ]
        elif measurand == POWER and reading.power_w is not None:
            sampled.append(Sampled(POWER, reading.power_w, "W"))
        elif measurand == ENERGY and reading.energy_import_wh is not None:
            sampled.append(Sampled(ENERGY, reading.energy_import_wh, "Wh"))
    return sampled


def meter_values_request(
    reading: SiteReading,
    measurands: tuple[str, ...],
    at: float,
    context: str = "Sample.Clock",
    wording: MeterValuesWording | None = None,
) -> dict[str, Any] | None:
    """The MeterValuesRequest of the LC as a whole from `reading` at wall time `at` (`context`:
    Trigger when the CSMS asked for it), in `wording` (2.0.1's when not given); None when the
    meter gives none of `measurands`."""
    sampled = sampled_values(reading, measurands)
    if not sampled:
        return None
    timestamp = to_ocpp_time(datetime.fromtimestamp(at, UTC))
    return (wording or meter_values_201)(sampled, timestamp, context)


def meter_values_201(sampled: Sequence[Sampled], timestamp: str, context: str) -> dict[str, Any]:
    """On EVSE 0, each value a number with its unitOfMeasure."""
    values = []
    for sample in sampled:
        entry: dict[str, Any] = {
            "value": sample.value,
            "context": context,
            "location": LOCATION,
            "measurand": sample.measurand,
            "unitOfMeasure": {"unit": sample.unit},
        }
        if sample.phase is not None:
            entry["phase"] = sample.phase
        values.append(entry)
    return {"evseId": 0, "meterValue": [{"timestamp": timestamp, "sampledValue": values}]}


def meter_values_16(sampled: Sequence[Sampled], timestamp: str, context: str) -> dict[str, Any]:
    """On connector 0, each value as text with its unit beside it."""
    values = []
    for sample in sampled:
        entry: dict[str, Any] = {
            "value": _decimal(sample.value),
            "context": context,
            "location": LOCATION,
            "measurand": sample.measurand,
            "unit": sample.unit,
        }
        if sample.phase is not None:
            entry["phase"] = sample.phase
        values.append(entry)
    return {"connectorId": 0, "meterValue": [{"timestamp": timestamp, "sampledValue": values}]}


def _decimal(value: float) -> str:
    """1.6's value is text: a plain decimal (never an exponent), to the meter's precision."""
    return f"{value:.3f}".rstrip("0").rstrip(".")
