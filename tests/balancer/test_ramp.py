"""next_limit (cut at once, raise slowly, deadband) and next_turns (who charges since when)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from balancer.config import LoopSettings
from balancer.ramp import Commanded, Step, fit_into_headroom, next_limit, next_turns

LOOP = LoopSettings(reaction_time_s=10.0, raise_fraction=0.25, deadband_a=1.0)
MIN = 6.0
T0 = 1_000.0  # when the previous limit was sent
DUE = T0 + LOOP.reaction_time_s  # the first moment a raise may happen


def limit(
    target: float,
    previous: float | None,
    *,
    now: float = DUE,
    urgent: bool = False,
    min_current: float = MIN,
    loop: LoopSettings = LOOP,
) -> float:
    commanded = None if previous is None else Commanded(previous, T0)
    return next_limit(target, commanded, min_current, now, loop, urgent)


# -- the first command ------------------------------------------------------------------------


@pytest.mark.parametrize("target", [0.0, 6.0, 16.4, 32.0])
def test_first_command_is_the_target(target: float) -> None:
    assert limit(target, None, now=T0) == target


# -- decreases -------------------------------------------------------------------------------


def test_decrease_beyond_the_deadband_applies_at_once_even_right_after_a_change() -> None:
    assert limit(13.0, 16.0, now=T0) == 13.0


def test_decrease_of_exactly_the_deadband_applies() -> None:
    assert limit(15.0, 16.0, now=T0) == 15.0


def test_small_decrease_inside_the_deadband_is_held() -> None:
    assert limit(15.5, 16.0) == 16.0


def test_small_decrease_applies_at_once_when_urgent() -> None:
    assert limit(15.5, 16.0, now=T0, urgent=True) == 15.5


def test_decrease_to_zero_applies_at_once_even_inside_the_deadband() -> None:
    wide = LoopSettings(deadband_a=10.0)
    assert limit(0.0, 6.0, now=T0, loop=wide) == 0.0


# -- increases -------------------------------------------------------------------------------


def test_increase_waits_for_the_reaction_time_since_the_last_change() -> None:
    assert limit(30.0, 10.0, now=DUE - 0.1) == 10.0
    assert limit(30.0, 10.0, now=DUE) > 10.0


def test_increase_from_zero_also_waits_for_the_reaction_time() -> None:
    assert limit(16.0, 0.0, now=DUE - 0.1) == 0.0


def test_increase_moves_by_the_raise_fraction() -> None:
    # 10 + (30 - 10) x 0.25
    assert limit(30.0, 10.0) == 15.0


def test_increase_moves_at_least_by_the_deadband() -> None:
    # a quarter of the 2 A gap is 0.5 A, less than the 1 A deadband
    assert limit(12.0, 10.0) == 11.0


def test_small_increase_inside_the_deadband_is_held() -> None:
    assert limit(10.8, 10.0) == 10.0


def test_increase_below_a_tenth_of_an_ampere_is_held_even_without_deadband() -> None:
    assert limit(10.05, 10.0, loop=LoopSettings(deadband_a=0.0)) == 10.0


def test_increase_from_zero_goes_at_least_to_the_minimum() -> None:
    # a tenth of 32 A would be 3.2 A: a car cannot charge below its minimum
    slow = LoopSettings(raise_fraction=0.1)
    assert limit(32.0, 0.0, loop=slow) == MIN


def test_increase_from_zero_moves_by_the_fraction_when_that_is_above_the_minimum() -> None:
    half = LoopSettings(raise_fraction=0.5)
    assert limit(32.0, 0.0, loop=half) == 16.0


def test_increase_from_zero_never_overshoots_the_target() -> None:
    # the deadband step (8 A) is above the 6 A target; the target wins
    wide = LoopSettings(deadband_a=8.0)
    assert limit(6.0, 0.0, loop=wide) == 6.0


def test_full_raise_fraction_reaches_the_target() -> None:
    assert limit(24.0, 10.0, loop=LoopSettings(raise_fraction=1.0)) == 24.0


def test_increase_is_rounded_down_to_a_tenth_of_an_ampere() -> None:
    # 6 + (17 - 6) x 0.33 = 9.63
    assert limit(17.0, 6.0, loop=LoopSettings(raise_fraction=0.33)) == 9.6


def test_unchanged_target_keeps_the_limit() -> None:
    assert limit(16.0, 16.0) == 16.0
    assert limit(0.0, 0.0) == 0.0


# -- properties ------------------------------------------------------------------------------

MINIMUMS = st.sampled_from((6.0, 6.5, 8.0, 10.0))


def grid(low: float, high: float) -> st.SearchStrategy[float]:
    """Currents on the 0.1 A grid, as the allocator gives them."""
    return st.integers(round(low * 10), round(high * 10)).map(lambda tenths: tenths / 10)


@st.composite
def ramp_cases(draw: st.DrawFn) -> tuple[float, float | None, float, float, LoopSettings, bool]:
    min_current = draw(MINIMUMS)
    target = draw(st.just(0.0) | grid(min_current, 80.0))
    previous = draw(st.none() | st.just(0.0) | grid(min_current, 80.0))
    loop = LoopSettings(
        reaction_time_s=draw(st.floats(0.0, 30.0)),
        raise_fraction=draw(st.floats(0.01, 1.0)),
        deadband_a=draw(st.floats(0.0, 5.0)),
    )
    elapsed = draw(st.floats(0.0, 60.0))
    return target, previous, min_current, elapsed, loop, draw(st.booleans())


@given(ramp_cases())
def test_result_is_zero_or_at_least_the_minimum_and_between_previous_and_target(
    case: tuple[float, float | None, float, float, LoopSettings, bool],
) -> None:
    target, previous, min_current, elapsed, loop, urgent = case
    commanded = None if previous is None else Commanded(previous, T0)
    result = next_limit(target, commanded, min_current, T0 + elapsed, loop, urgent)
    assert result == 0 or result >= min_current
    before = target if previous is None else previous
    assert min(target, before) <= result <= max(target, before)
    assert math.isclose(result * 10, round(result * 10), abs_tol=1e-6)  # on the 0.1 A grid


@given(ramp_cases())
def test_decreases_inside_the_deadband_are_held_unless_urgent_or_to_zero(
    case: tuple[float, float | None, float, float, LoopSettings, bool],
) -> None:
    target, previous, min_current, elapsed, loop, urgent = case
    commanded = None if previous is None else Commanded(previous, T0)
    result = next_limit(target, commanded, min_current, T0 + elapsed, loop, urgent)
    if previous is None or target >= previous:
        return
    if urgent or target == 0 or previous - target >= loop.deadband_a:
        assert result == target
    else:
        assert result == previous


@given(ramp_cases())
def test_no_increase_before_the_reaction_time(
    case: tuple[float, float | None, float, float, LoopSettings, bool],
) -> None:
    target, previous, min_current, elapsed, loop, urgent = case
    if previous is None or target <= previous or elapsed >= loop.reaction_time_s:
        return
    result = next_limit(target, Commanded(previous, T0), min_current, T0 + elapsed, loop, urgent)
    assert result == previous


# -- known defects ---------------------------------------------------------------------------


def test_raise_from_zero_never_lands_below_an_off_grid_minimum() -> None:
    assert limit(10.0, 0.0, min_current=6.05) >= 6.05


def test_raise_by_the_deadband_is_not_lost_to_float_rounding() -> None:
    fine = LoopSettings(deadband_a=0.1, raise_fraction=0.25)
    assert limit(6.4, 6.1, loop=fine) == 6.2


def test_due_raise_always_makes_progress_without_deadband() -> None:
    assert limit(10.0, 9.8, loop=LoopSettings(deadband_a=0.0)) > 9.8


# -- next_turns ------------------------------------------------------------------------------

NOW = 5_000.0


def test_new_session_with_current_starts_charging_now() -> None:
    assert next_turns({}, {"CP1/1": 16.0}, {"CP1/1"}, NOW) == {"CP1/1": (NOW, None)}


def test_new_session_without_current_is_paused_now() -> None:
    assert next_turns({}, {"CP1/1": 0.0}, {"CP1/1"}, NOW) == {"CP1/1": (None, NOW)}


def test_session_without_a_limit_counts_as_paused() -> None:
    assert next_turns({}, {}, {"CP1/1"}, NOW) == {"CP1/1": (None, NOW)}


def test_charging_session_keeps_when_it_started() -> None:
    turns = {"CP1/1": (100.0, None)}
    assert next_turns(turns, {"CP1/1": 8.0}, {"CP1/1"}, NOW) == {"CP1/1": (100.0, None)}


def test_paused_session_keeps_when_it_was_paused() -> None:
    turns = {"CP1/1": (None, 200.0)}
    assert next_turns(turns, {"CP1/1": 0.0}, {"CP1/1"}, NOW) == {"CP1/1": (None, 200.0)}


def test_pausing_and_resuming_restart_the_clocks() -> None:
    turns = {"CP1/1": (100.0, None), "CP2/1": (None, 200.0)}
    limits = {"CP1/1": 0.0, "CP2/1": 6.0}
    updated = next_turns(turns, limits, {"CP1/1", "CP2/1"}, NOW)
    assert updated == {"CP1/1": (None, NOW), "CP2/1": (NOW, None)}


def test_ended_sessions_are_forgotten_and_the_input_is_not_changed() -> None:
    turns = {"CP1/1": (100.0, None), "CP2/1": (None, 200.0)}
    updated = next_turns(turns, {"CP1/1": 10.0, "CP2/1": 0.0}, {"CP1/1"}, NOW)
    assert updated == {"CP1/1": (100.0, None)}
    assert turns == {"CP1/1": (100.0, None), "CP2/1": (None, 200.0)}


# -- fit_into_headroom ------------------------------------------------------------------------

THREE = (0, 1, 2)  # the site phases as fuse resources


def test_a_raise_waits_until_the_cut_that_makes_room_for_it_has_acted() -> None:
    # A was cut 16 -> 6 just now; B may rise 6 -> 16 only once A has followed its cut.
    steps = {
        "A": Step(6.0, 6.0, Commanded(6.0, T0, was=16.0), THREE),
        "B": Step(16.0, 16.0, Commanded(6.0, T0 - 100), THREE),
    }
    budget = (22.0, 22.0, 22.0)
    assert fit_into_headroom(steps, budget, T0 + 1, LOOP.reaction_time_s) == {"A": 6.0, "B": 6.0}
    assert fit_into_headroom(steps, budget, DUE, LOOP.reaction_time_s) == {"A": 6.0, "B": 16.0}


def test_a_first_limit_waits_too_when_it_does_not_fit_beside_a_pending_cut() -> None:
    steps = {
        "A": Step(6.0, 6.0, Commanded(6.0, T0, was=20.0), THREE),
        "new": Step(10.0, 10.0, None, THREE),
    }
    limits = fit_into_headroom(steps, (25.0, 25.0, 25.0), T0 + 1, LOOP.reaction_time_s)
    assert limits == {"A": 6.0, "new": 0.0}


def test_cuts_the_deadband_held_back_are_made_where_their_sum_does_not_fit() -> None:
    # Three EVSEs each held 0.8 A above their target by the deadband: 2.4 A over the budget.
    steps = {key: Step(10.0, 9.2, Commanded(10.0, T0 - 100), THREE) for key in ("A", "B", "C")}
    limits = fit_into_headroom(steps, (27.6, 27.6, 27.6), DUE, LOOP.reaction_time_s)
    assert limits == {"A": 9.2, "B": 9.2, "C": 9.2}
    # With room for them, they stay: the deadband saves the chargers the change.
    assert fit_into_headroom(steps, (30.0, 30.0, 30.0), DUE, LOOP.reaction_time_s) == {
        "A": 10.0,
        "B": 10.0,
        "C": 10.0,
    }


def test_only_evses_on_the_crowded_phase_are_held_back() -> None:
    steps = {
        "A": Step(6.0, 6.0, Commanded(6.0, T0, was=16.0), (0,)),
        "on-L1": Step(16.0, 16.0, Commanded(6.0, T0 - 100), (0,)),
        "on-L2": Step(16.0, 16.0, Commanded(6.0, T0 - 100), (1,)),
    }
    limits = fit_into_headroom(steps, (22.0, 22.0, 22.0), T0 + 1, LOOP.reaction_time_s)
    assert limits == {"A": 6.0, "on-L1": 6.0, "on-L2": 16.0}
