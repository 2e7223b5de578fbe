"""The steps that move a charger's limits to its charger maximum profile (pure)."""

from __future__ import annotations

import pytest

from balancer.profiles import ProfileTarget, as_station_max
from balancer.station_max import (
    Answer,
    ClearProfile,
    SendProfile,
    StationMaxSwitch,
    Switched,
)

FLOOR = ProfileTarget(evse_id=0, profile_id=870000, stack_level=8, limit_a=6.0, phases=3)
STATION_MAX_FLOOR = SendProfile(as_station_max(FLOOR))
NOT_ACCEPTED = [Answer.REFUSED, Answer.ERROR, Answer.NONE]


def test_a_refused_floor_is_sent_again_as_the_charger_maximum() -> None:
    switch = StationMaxSwitch(FLOOR, clear_floor=False)
    assert switch.start() == STATION_MAX_FLOOR
    assert STATION_MAX_FLOOR.target.station_max and STATION_MAX_FLOOR.target.evse_id == 0
    assert switch.sent(Answer.ACCEPTED) == Switched(done=True)


@pytest.mark.parametrize("answer", NOT_ACCEPTED)
def test_a_charger_maximum_not_accepted_ends_the_switch(answer: Answer) -> None:
    switch = StationMaxSwitch(FLOOR, clear_floor=False)
    switch.start()
    assert switch.sent(answer) == Switched(done=False)


def test_an_accepted_floor_is_cleared_first_then_replaced() -> None:
    switch = StationMaxSwitch(FLOOR, clear_floor=True)
    assert switch.start() == ClearProfile(FLOOR.profile_id)
    assert switch.cleared(answered=True) == STATION_MAX_FLOOR
    assert switch.sent(Answer.ACCEPTED) == Switched(done=True)


def test_an_unanswered_clear_ends_the_switch_with_nothing_sent() -> None:
    switch = StationMaxSwitch(FLOOR, clear_floor=True)
    switch.start()
    assert switch.cleared(answered=False) == Switched(done=False)


@pytest.mark.parametrize("answer", NOT_ACCEPTED)
@pytest.mark.parametrize("restored", list(Answer))
def test_a_cleared_floor_comes_back_when_the_charger_maximum_is_not_accepted(
    answer: Answer, restored: Answer
) -> None:
    switch = StationMaxSwitch(FLOOR, clear_floor=True)
    switch.start()
    switch.cleared(answered=True)
    assert switch.sent(answer) == SendProfile(FLOOR)
    assert switch.sent(restored) == Switched(done=False)
