"""How long the LC waits before dialling the CSMS again (OCPPCommCtrlr's RetryBackOff*)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackOff:
    wait_minimum_s: float = 10.0  # RetryBackOffWaitMinimum
    random_range_s: float = 10.0  # RetryBackOffRandomRange
    repeat_times: int = 5  # RetryBackOffRepeatTimes: how often the wait doubles


def reconnect_delay(backoff: BackOff, failures: int, random_fraction: float) -> float:
    """The wait after `failures` failed attempts in a row (1 for the first); `random_fraction`
    in [0, 1) spreads LCs that lost the CSMS together."""
    doublings = min(max(failures - 1, 0), backoff.repeat_times)
    return backoff.wait_minimum_s * float(2**doublings) + random_fraction * backoff.random_range_s
