"""The status page's words: what a car does and why its limit is what it is."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from balancer.allocate import Mode, PauseReason
from lc.wording import LimitFacts, car_activity, limit_reason

FACTS = LimitFacts(
    limit_a=12.0,
    paused=None,
    mode=Mode.NORMAL,
    obeys=True,
    max_a=32.0,
    min_a=6.0,
    safe_a=8.0,
    csms_limit_a=None,
    rotation_period_s=900.0,
)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({}, "its fair share of the room under the cap"),
        ({"limit_a": 32.0}, "its maximum (32 A): there is room for it"),
        ({"csms_limit_a": 12.0}, "the CSMS limits it to 12 A"),
        ({"csms_limit_a": 20.0}, "its fair share of the room under the cap"),
        ({"mode": Mode.SAFE, "limit_a": 8.0}, "meter lost: its safe current 8 A"),
        ({"obeys": False}, "ignores its limit: planned at its maximum 32 A"),
        (
            {"obeys": False, "set_up": False},
            "being set up: planned at its maximum 32 A until then",
        ),
        ({"limit_a": 0.0}, "waiting for its limit: the charger still has 0 A"),
        ({"limit_a": None}, "no limit sent yet"),
        (
            {"paused": PauseReason.NO_CAPACITY, "limit_a": 0.0},
            "no room for 6 A under the cap: higher priority first, then turns every 15 min",
        ),
        (
            {"paused": PauseReason.LIMIT_BELOW_MIN, "csms_limit_a": 4.0},
            "the CSMS limit (4 A) is below the car's minimum 6 A",
        ),
        (
            {"paused": PauseReason.OVERLOAD},
            "the building alone is above the cap on a phase this car uses",
        ),
        (
            {"paused": PauseReason.SAFE_CURRENT_ZERO},
            "meter lost: this charger's safe current is 0 A",
        ),
    ],
)
def test_each_limit_has_a_one_line_reason(change: dict[str, Any], reason: str) -> None:
    assert limit_reason(replace(FACTS, **change)) == reason


@pytest.mark.parametrize(
    ("state", "limit", "paused", "drawn", "words"),
    [
        ("Charging", 16.0, None, 15.96, "charging at 16.0 A"),
        ("Charging", 16.0, None, None, "charging at 16.0 A"),
        (None, 16.0, None, 12.0, "charging at 12.0 A"),  # 1.6: no state, but it draws
        ("Charging", 0.0, "no_capacity", 0.0, "paused: no capacity"),
        # A transition: not paused any more, the charger still has its 0 A limit.
        ("Charging", 0.0, None, None, "waiting for its limit"),
        ("Charging", 0.0, None, 0.0, "waiting for its limit"),
        ("SuspendedEVSE", 0.0, None, None, "waiting for its limit"),
        ("Charging", 0.0, None, 6.2, "charging at 6.2 A"),  # it draws: the meter is the truth
        ("SuspendedEVSE", 0.0, "limit_below_min", None, "paused: CSMS limit"),
        ("SuspendedEV", 16.0, None, 0.0, "waiting for the car"),
        ("EVConnected", 16.0, None, None, "waiting for the car"),
        ("Preparing", None, None, None, "waiting for the car"),
        (None, None, None, None, "waiting for the car"),
        ("SuspendedEVSE", 16.0, None, None, "paused by the charger"),
        ("Finishing", 16.0, None, None, "finished: car still plugged in"),
    ],
)
def test_a_session_says_what_the_car_does(
    state: str | None, limit: float | None, paused: str | None, drawn: float | None, words: str
) -> None:
    assert car_activity(state, limit, paused, drawn) == words
