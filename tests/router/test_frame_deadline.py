"""A charger's frame deadline and its log throttle (pure: the time is an argument)."""

from __future__ import annotations

import pytest

from router.frame_deadline import FrameDeadline
from router.log_limit import LogThrottle


def test_a_frame_that_has_begun_must_be_complete_within_the_limit() -> None:
    deadline = FrameDeadline(2.0)
    deadline.waiting(0.0)
    assert deadline.deadline() is None  # an idle charger has no deadline
    assert deadline.bytes_arrived(10.0)
    assert not deadline.bytes_arrived(11.0)  # more of the same frame: the clock keeps running
    assert deadline.deadline() == 12.0
    assert not deadline.expired(11.9)
    assert deadline.expired(12.0)


def test_a_whole_frame_stops_the_clock_until_the_next_one_begins() -> None:
    deadline = FrameDeadline(2.0)
    deadline.waiting(0.0)
    deadline.bytes_arrived(1.0)
    deadline.frame_read()
    assert deadline.deadline() is None and not deadline.expired(100.0)
    deadline.waiting(1.5)
    assert deadline.bytes_arrived(50.0)
    assert deadline.deadline() == 52.0


def test_a_frame_taken_while_waiting_stops_the_clock_and_the_wait_goes_on() -> None:
    deadline = FrameDeadline(2.0)
    deadline.waiting(0.0)
    deadline.bytes_arrived(1.0)
    deadline.frame_taken()  # handled from the parser: the LC never stopped waiting
    assert deadline.deadline() is None and not deadline.expired(100.0)
    assert deadline.bytes_arrived(50.0)  # the next frame starts the clock: still waited for
    assert deadline.deadline() == 52.0


def test_time_the_lc_was_not_reading_does_not_count() -> None:
    deadline = FrameDeadline(2.0)
    deadline.waiting(0.0)
    deadline.frame_read()  # the LC works on a frame, then waits out the frame budget
    deadline.bytes_arrived(0.1)  # the next frame begins meanwhile
    assert deadline.deadline() is None  # nobody waits for it yet
    deadline.waiting(5.0)
    assert deadline.deadline() == 7.0


def test_once_stopped_nothing_that_arrives_has_a_deadline() -> None:
    deadline = FrameDeadline(2.0)
    deadline.waiting(0.0)  # the link closes while the LC waits for a frame
    deadline.stop()
    deadline.bytes_arrived(1.0)  # the charger's close frame, say
    assert deadline.deadline() is None and not deadline.expired(100.0)


def test_a_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        FrameDeadline(0)


def test_the_first_occurrence_is_logged_then_one_line_per_interval_with_a_count() -> None:
    throttle = LogThrottle(60.0)
    assert throttle.occurred(0.0) == 0
    assert [throttle.occurred(t) for t in (1.0, 2.0, 59.9)] == [None, None, None]
    assert throttle.unlogged == 3
    assert throttle.occurred(60.0) == 3
    assert throttle.unlogged == 0
    assert throttle.occurred(61.0) is None
    assert throttle.occurred(500.0) == 1


def test_an_interval_of_zero_logs_every_occurrence() -> None:
    throttle = LogThrottle(0.0)
    assert [throttle.occurred(1.0) for _ in range(3)] == [0, 0, 0]
