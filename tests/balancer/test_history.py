"""The control loop's history for the status page: bounded to its window, oldest first."""

from __future__ import annotations

import pytest

from balancer.allocate import Mode
from balancer.history import SiteHistory, SiteSample


def _sample(at: float, amps: float | None = 10.0) -> SiteSample:
    currents = None if amps is None else (amps, amps, amps)
    return SiteSample(at, currents, (63.0, 63.0, 63.0), 2.0, (5.0, 5.0, 5.0), Mode.NORMAL)


def test_samples_older_than_the_window_are_dropped_as_new_ones_arrive() -> None:
    history = SiteHistory(window_s=10)
    for second in range(25):
        history.record(_sample(float(second)))
    kept = [sample.at for sample in history.samples()]
    assert kept == [float(second) for second in range(14, 25)]


def test_a_gap_in_recording_drops_everything_outside_the_window() -> None:
    history = SiteHistory(window_s=60)
    history.record(_sample(0.0))
    history.record(_sample(1.0, amps=None))
    history.record(_sample(500.0))
    assert [sample.at for sample in history.samples()] == [500.0]


def test_the_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_s"):
        SiteHistory(window_s=0)
