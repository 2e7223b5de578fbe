"""A charger's frame budget (pure: the time is an argument)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.rate_limit import FrameBudget


def test_a_burst_is_free_then_frames_wait_their_turn() -> None:
    budget = FrameBudget(rate=10, burst=3, now=0)
    assert [budget.take(0) for _ in range(3)] == [0, 0, 0]
    assert budget.take(0) == pytest.approx(0.1)
    assert budget.take(0) == pytest.approx(0.2)  # one more in the queue behind it


def test_the_budget_refills_at_the_rate_up_to_the_burst() -> None:
    budget = FrameBudget(rate=10, burst=3, now=0)
    for _ in range(3):
        budget.take(0)
    assert budget.take(0.1) == 0  # one frame's worth came back
    assert budget.take(0.1) == pytest.approx(0.1)
    budget = FrameBudget(rate=10, burst=3, now=0)
    assert [budget.take(100) for _ in range(4)][-1] == pytest.approx(0.1)  # no more than burst


def test_a_clock_going_back_refills_nothing() -> None:
    budget = FrameBudget(rate=1, burst=1, now=10)
    budget.take(10)
    assert budget.take(5) == pytest.approx(1.0)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_a_budget_needs_a_positive_rate_and_burst(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        FrameBudget(rate, burst, 0)


@given(
    rate=st.floats(0.5, 1000),
    burst=st.integers(1, 500),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=300),
)
def test_frames_handled_when_told_never_exceed_burst_plus_rate_times_time(
    rate: float, burst: int, gaps: list[float]
) -> None:
    """A charger that waits as told gets at most burst + rate x elapsed frames handled, and
    never waits longer than the frames already owed need."""
    budget = FrameBudget(rate, burst, 0)
    now = 0.0
    for count, gap in enumerate(gaps, start=1):
        now += gap
        wait = budget.take(now)
        assert 0 <= wait <= count / rate + 1e-9
        now += wait  # the link sleeps this long before handling the frame
        assert count <= burst + rate * now + 1e-6
