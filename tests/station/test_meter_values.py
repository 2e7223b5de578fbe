"""Clock-aligned sampling times, the measurand list and the 1.6 wording of the LC's own
MeterValues."""

from __future__ import annotations

import pytest

from router.frames import OcppVersion
from router.schemas import default_registry
from station.meter_values import (
    CURRENT,
    ENERGY,
    SECONDS_PER_DAY,
    Sampled,
    meter_values_16,
    next_aligned,
    parse_measurands,
)

DAY = 20_000 * SECONDS_PER_DAY  # a midnight UTC


def test_aligned_times_count_from_midnight_and_start_again_at_the_next() -> None:
    assert next_aligned(DAY + 10, 900) == DAY + 900
    assert next_aligned(DAY + 900, 900) == DAY + 1800
    # 7 min does not divide a day: the last interval is short, the next day starts afresh.
    assert next_aligned(DAY + SECONDS_PER_DAY - 1, 420) == DAY + SECONDS_PER_DAY


def test_only_the_site_meter_s_measurands_are_taken() -> None:
    assert parse_measurands("Power.Active.Import, Current.Import") == (
        "Power.Active.Import",
        "Current.Import",
    )
    assert parse_measurands("") == ()
    for refused in ("Voltage", "Current.Import,Current.Import"):
        with pytest.raises(ValueError):
            parse_measurands(refused)


def test_1_6_values_are_plain_decimals_its_schema_takes() -> None:
    sampled = [Sampled(ENERGY, 123_456_789.5, "Wh"), Sampled(CURRENT, 16.0, "A", "L2")]
    request = meter_values_16(sampled, "2026-12-06T08:00:00Z", "Sample.Clock")
    assert [value["value"] for value in request["meterValue"][0]["sampledValue"]] == [
        "123456789.5",
        "16",
    ]
    assert default_registry().check(OcppVersion.V16, "MeterValues", True, request) is None
