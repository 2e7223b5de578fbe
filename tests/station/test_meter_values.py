"""Clock-aligned sampling times and the measurand list of the LC's own MeterValues."""

from __future__ import annotations

import pytest

from station.meter_values import SECONDS_PER_DAY, next_aligned, parse_measurands

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
