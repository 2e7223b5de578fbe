"""allocate() benchmark: time one allocation for garages of 10, 100 and 1,000 EVSEs.

Each garage is a fixed pseudo-random mix (3-phase and rotated 1-phase cars, a few priorities,
starting / suspended / idle sessions, a few disobedient chargers), allocated under a roomy cap
(everyone charges, water-filling does the work), a tight cap (minimums do not fit: pausing and
rotation) and the tight cap plus a kW import cap (a fourth shared resource). The median of RUNS
timed calls is printed with the target; timing is reported, never asserted.

Run with: pytest -m bench -s tests/bench/test_allocate_bench.py
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

import pytest

from balancer.allocate import Mode, allocate
from balancer.site import EvseState, MeterReading, SessionState, SiteState

pytestmark = pytest.mark.bench

SIZES = (10, 100, 1000)
RUNS = 31
TARGET_MS_AT_1000 = 5.0
NOW = 100_000.0
SESSIONS = (
    [SessionState.CHARGING] * 14
    + [SessionState.STARTING] * 2
    + [SessionState.SUSPENDED_EV]
    + [SessionState.IDLE] * 3
)
PHASE_MAPS = ((1, 2, 3), (2, 3, 1), (3, 1, 2))


def garage_evse(index: int, rng: random.Random) -> EvseState:
    session = rng.choice(SESSIONS)
    one_phase = rng.random() < 0.2
    drawing = rng.uniform(6, 16) if session is SessionState.CHARGING else 0.0
    measured = (drawing, 0.0 if one_phase else drawing, 0.0 if one_phase else drawing)
    turn = rng.choice(("new", "charging", "paused"))
    since = NOW - rng.uniform(0, 3600)
    return EvseState(
        evse_id=f"CP{index:04d}/1",
        max_current=rng.choice((16.0, 32.0)),
        safe_current=6.0,
        phase_map=rng.choice(PHASE_MAPS),
        phases_in_use=1 if one_phase else 3,
        priority=rng.choice((0, 0, 0, 1)),
        session=session,
        measured=measured if rng.random() < 0.9 else (None, None, None),
        allocated=drawing,
        csms_limit=rng.choice((None, None, None, 20.0)),
        obeys=rng.random() >= 0.02,
        charging_since=since if turn == "charging" else None,
        paused_since=since if turn == "paused" else None,
    )


def garage(size: int, amps_per_evse: float, power_cap: bool) -> SiteState:
    rng = random.Random(size)
    evses = tuple(garage_evse(index, rng) for index in range(size))
    site_current = [40.0, 35.0, 30.0]  # base load
    for evse in evses:
        for charger_phase, site_phase in enumerate(evse.phase_map):
            site_current[site_phase - 1] += evse.measured[charger_phase] or 0.0
    cap = 40.0 + amps_per_evse * size
    return SiteState(
        phase_cap=(cap, cap, cap),
        now=NOW,
        meter=MeterReading(
            currents=(site_current[0], site_current[1], site_current[2]), read_at=NOW
        ),
        meter_stale_after_s=10.0,
        evses=evses,
        margin=2.0,
        power_cap_kw=0.6 * 3 * 0.23 * cap if power_cap else None,
    )


SCENARIOS: dict[str, Callable[[int], SiteState]] = {
    "roomy cap": lambda size: garage(size, 20.0, power_cap=False),
    "tight cap": lambda size: garage(size, 3.0, power_cap=False),
    "tight cap + kW cap": lambda size: garage(size, 3.0, power_cap=True),
}


def median_ms(state: SiteState) -> float:
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        allocate(state)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000


def test_allocate_time_by_garage_size() -> None:
    rows = []
    for scenario, build in SCENARIOS.items():
        for size in SIZES:
            state = build(size)
            allocation = allocate(state)
            # Sanity, not speed: a real allocation happened.
            assert allocation.mode is Mode.NORMAL
            assert len(allocation.limits) == size
            charging = sum(1 for limit in allocation.limits.values() if limit)
            rows.append((scenario, size, charging, len(allocation.paused), median_ms(state)))

    print(f"\nallocate(): median of {RUNS} runs, target < {TARGET_MS_AT_1000} ms at 1,000 EVSEs")
    print("| scenario | EVSEs | given current | paused | median ms |")
    print("|---|---:|---:|---:|---:|")
    for scenario, size, charging, paused, milliseconds in rows:
        print(f"| {scenario} | {size:,} | {charging:,} | {paused:,} | {milliseconds:.3f} |")
    worst = max(ms for _, size, _, _, ms in rows if size == 1000)
    verdict = "meets" if worst < TARGET_MS_AT_1000 else "MISSES"
    print(f"slowest at 1,000 EVSEs: {worst:.3f} ms ({verdict} the {TARGET_MS_AT_1000} ms target)")
