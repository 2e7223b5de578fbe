"""The composite limit (OCPP 1.6 §3.13, 2.0.1 K08) as a pure function."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from ocpp_knowledge.composite import CompositePeriod, composite_limit, composite_schedule
from ocpp_knowledge.profiles import Transaction
from tests.garage.profiles import NOW, ago, schedule, v16, v201

TX = Transaction(transaction_id=7, started_at=ago(90))


def absolute(*periods: tuple[int, float | Decimal]) -> dict[str, Any]:
    """A schedule that started an hour ago."""
    return schedule(*periods, start=ago(3600))


def test_nothing_installed_means_no_limit() -> None:
    assert composite_limit([], NOW) is None


def test_highest_stack_level_wins_within_a_purpose_even_when_higher() -> None:
    low = v16(1, 0, "TxDefaultProfile", absolute((0, 10.0)))
    high = v16(2, 3, "TxDefaultProfile", absolute((0, 20.0)))
    assert composite_limit([low, high], NOW) == 20.0
    assert composite_limit([low], NOW) == 10.0


def test_expired_duration_falls_back_to_the_lower_stack_level() -> None:
    floor = v16(1, 0, "TxDefaultProfile", absolute((0, 6.0)))
    dynamic = v16(2, 1, "TxDefaultProfile", schedule((0, 16.0), start=ago(30), duration_s=60))
    assert composite_limit([floor, dynamic], NOW) == 16.0
    assert composite_limit([floor, dynamic], NOW + timedelta(seconds=29.9)) == 16.0
    assert composite_limit([floor, dynamic], NOW + timedelta(seconds=30)) == 6.0


def test_validity_window_from_inclusive_to_exclusive() -> None:
    floor = v16(1, 0, "TxDefaultProfile", absolute((0, 6.0)))
    windowed = v16(
        2,
        1,
        "TxDefaultProfile",
        absolute((0, 16.0)),
        valid_from=NOW,
        valid_to=NOW + timedelta(minutes=5),
    )
    assert composite_limit([floor, windowed], NOW - timedelta(seconds=1)) == 6.0
    assert composite_limit([floor, windowed], NOW) == 16.0
    assert composite_limit([floor, windowed], NOW + timedelta(minutes=5)) == 6.0


def test_a_schedule_not_started_yet_gives_no_limit() -> None:
    future = v16(1, 0, "TxDefaultProfile", schedule((0, 8.0), start=NOW + timedelta(seconds=10)))
    assert composite_limit([future], NOW) is None
    assert composite_limit([future], NOW + timedelta(seconds=10)) == 8.0


def test_periods_take_over_at_their_start() -> None:
    stepped = v16(1, 0, "TxDefaultProfile", schedule((0, 16.0), (60, 8.0), start=ago(60)))
    assert composite_limit([stepped], ago(1)) == 16.0
    assert composite_limit([stepped], NOW) == 8.0


def test_tx_profile_overrules_tx_default_for_its_transaction_only() -> None:
    default = v16(1, 5, "TxDefaultProfile", absolute((0, 6.0)))
    tx = v16(2, 0, "TxProfile", absolute((0, 20.0)), transaction_id=7)
    assert composite_limit([default, tx], NOW, transaction=TX) == 20.0
    assert composite_limit([default, tx], NOW) == 6.0  # no transaction: TxProfile ignored
    other = Transaction(transaction_id=8, started_at=ago(10))
    assert composite_limit([default, tx], NOW, transaction=other) == 6.0


def test_expired_tx_profile_falls_back_to_tx_default() -> None:
    default = v16(1, 0, "TxDefaultProfile", absolute((0, 12.0)))
    tx = v16(2, 0, "TxProfile", schedule((0, 20.0), start=ago(60), duration_s=30))
    assert composite_limit([default, tx], NOW, transaction=TX) == 12.0


def test_charger_maximum_caps_everything() -> None:
    station_max = v16(1, 0, "ChargePointMaxProfile", absolute((0, 10.0)), connector_id=0)
    default = v16(2, 0, "TxDefaultProfile", absolute((0, 16.0)))
    tx = v16(3, 0, "TxProfile", absolute((0, 8.0)), transaction_id=7)
    assert composite_limit([station_max, default], NOW) == 10.0
    assert composite_limit([station_max, default, tx], NOW, transaction=TX) == 8.0
    assert composite_limit([station_max], NOW) == 10.0


def test_connector_zero_applies_to_every_connector_and_others_only_to_theirs() -> None:
    everywhere = v16(1, 0, "TxDefaultProfile", absolute((0, 16.0)), connector_id=0)
    elsewhere = v16(2, 4, "TxDefaultProfile", absolute((0, 6.0)), connector_id=2)
    assert composite_limit([everywhere, elsewhere], NOW, connector_id=1) == 16.0
    assert composite_limit([everywhere, elsewhere], NOW, connector_id=2) == 6.0


def test_at_equal_stack_level_the_connectors_own_profile_wins() -> None:
    everywhere = v16(1, 2, "TxDefaultProfile", absolute((0, 16.0)), connector_id=0)
    own = v16(2, 2, "TxDefaultProfile", absolute((0, 20.0)), connector_id=1)
    assert composite_limit([own, everywhere], NOW) == 20.0
    assert composite_limit([everywhere, own], NOW) == 20.0


@pytest.mark.parametrize(
    ("phases", "number_phases", "expected_a"),
    [(3, None, 16.0), (1, None, 48.0), (None, None, 16.0), (None, 1, 48.0), (3, 1, 16.0)],
)
def test_watts_become_amperes_per_phase_drawn(
    phases: int | None, number_phases: int | None, expected_a: float
) -> None:
    period = (0, 11040.0) if number_phases is None else (0, 11040.0, number_phases)
    power = v16(1, 0, "TxDefaultProfile", schedule(period, unit="W", start=ago(10)))
    assert composite_limit([power], NOW, phases=phases) == pytest.approx(expected_a)


def test_relative_schedule_runs_from_the_transaction_start() -> None:
    relative = v16(1, 0, "TxDefaultProfile", schedule((0, 16.0), (60, 8.0)), kind="Relative")
    assert composite_limit([relative], NOW, transaction=TX) == 8.0  # started 90 s ago
    assert composite_limit([relative], NOW) == 16.0  # no transaction: first period


def test_v16_absolute_without_start_schedule_is_relative_to_charging_start() -> None:
    unanchored = v16(1, 0, "TxDefaultProfile", schedule((0, 16.0), (60, 8.0)))
    assert composite_limit([unanchored], NOW, transaction=TX) == 8.0


def test_recurring_daily_restarts_every_day() -> None:
    midnight_days_ago = NOW.replace(hour=0) - timedelta(days=3)
    daily = v16(
        1,
        0,
        "TxDefaultProfile",
        schedule((0, 6.0), (8 * 3600, 16.0), (20 * 3600, 32.0), start=midnight_days_ago),
        kind="Recurring",
        recurrency="Daily",
    )
    assert composite_limit([daily], NOW) == 16.0  # 12:00
    assert composite_limit([daily], NOW.replace(hour=21)) == 32.0
    assert composite_limit([daily], NOW.replace(hour=3)) == 6.0


def test_v201_shapes_station_max_external_constraints_and_tx_profile() -> None:
    station_max = v201(1, 0, "ChargingStationMaxProfile", absolute((0, 25.0)), evse_id=0)
    external = v201(2, 0, "ChargingStationExternalConstraints", absolute((0, 20.0)), evse_id=0)
    tx = v201(3, 1, "TxProfile", absolute((0, 24.0)), transaction_id="tx-a")
    running = Transaction(transaction_id="tx-a", started_at=ago(5))
    assert composite_limit([station_max, tx], NOW, transaction=running) == 24.0
    assert composite_limit([station_max, external, tx], NOW, transaction=running) == 20.0
    assert composite_limit([station_max, tx], NOW) == 25.0


def test_v16_limits_parsed_from_decimal() -> None:
    # The ocpp package parses 1.6 schedule limits as Decimal (for its multipleOf 0.1 check).
    decimal_limit = v16(1, 0, "TxDefaultProfile", absolute((0, Decimal("13.7"))))
    assert composite_limit([decimal_limit], NOW) == pytest.approx(13.7)


def test_composite_schedule_lists_every_change_in_the_window() -> None:
    floor = v16(1, 0, "TxDefaultProfile", absolute((0, 6.0)))
    dynamic = v16(
        2, 1, "TxDefaultProfile", schedule((0, 16.0), (20, 10.0), start=NOW, duration_s=60)
    )
    later = v16(
        3,
        0,
        "ChargePointMaxProfile",
        absolute((0, 8.0)),
        connector_id=0,
        valid_from=NOW + timedelta(seconds=90),
    )
    assert composite_schedule([floor, dynamic, later], NOW, 120) == [
        CompositePeriod(0, 16.0),
        CompositePeriod(20, 10.0),
        CompositePeriod(60, 6.0),
    ]
    assert composite_schedule([floor, dynamic, later], NOW, 100)[-1] == CompositePeriod(60, 6.0)
    station_cap = v16(
        4,
        0,
        "ChargePointMaxProfile",
        absolute((0, 4.0)),
        connector_id=0,
        valid_from=NOW + timedelta(seconds=90),
    )
    assert composite_schedule([floor, station_cap], NOW, 120) == [
        CompositePeriod(0, 6.0),
        CompositePeriod(90, 4.0),
    ]


def test_composite_schedule_without_profiles_is_one_unlimited_period() -> None:
    assert composite_schedule([], NOW, 60) == [CompositePeriod(0, None)]


def test_composite_schedule_repeats_recurring_profiles() -> None:
    daily = v16(
        1,
        0,
        "TxDefaultProfile",
        schedule((0, 6.0), (12 * 3600, 16.0), start=NOW.replace(hour=0) - timedelta(days=1)),
        kind="Recurring",
        recurrency="Daily",
    )
    periods = composite_schedule([daily], NOW, 24 * 3600)
    assert periods == [CompositePeriod(0, 16.0), CompositePeriod(12 * 3600, 6.0)]
