"""allocate() benchmark: time one allocation for garages of 10, 100 and 1,000 EVSEs.

Each garage is a fixed pseudo-random mix (3-phase and rotated 1-phase cars, a few priorities,
starting / suspended / idle sessions, a few disobedient chargers), allocated under a roomy cap
(everyone charges, water-filling does the work), a tight cap (minimums do not fit: pausing and
rotation) and the tight cap plus a kW import cap (a fourth shared resource). The median of RUNS
timed calls is printed with the target; timing is reported, never asserted. The roomy and the
tight garage are timed again behind a 3-level fuse tree (the grid connection, four floors, five
rows of chargers behind a group fuse on each), every level binding somewhere.

Run with: pytest -m bench -s tests/bench/test_allocate_bench.py
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from balancer.allocate import Mode, allocate
from balancer.site import EvseState, MeterReading, PanelState, SessionState, SiteState

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


FLOORS = 4
ROWS_PER_FLOOR = 5


def fuse_tree(state: SiteState) -> SiteState:
    """The garage behind floors and rows: a floor's fuse a little above a quarter of the cap, a
    row's a little above a fifth of its floor's, so each level is tight somewhere."""
    floor_fuse = state.phase_cap[0] / FLOORS * 1.1
    row_fuse = floor_fuse / ROWS_PER_FLOOR * 1.1
    panels = []
    for floor in range(FLOORS):
        panels.append(PanelState(name=f"F{floor}", fuse=(floor_fuse,) * 3))
        panels += [
            PanelState(name=f"F{floor}R{row}", parent=f"F{floor}", fuse=(row_fuse,) * 3)
            for row in range(ROWS_PER_FLOOR)
        ]
    rows = [panel.name for panel in panels if panel.parent is not None]
    evses = tuple(
        replace(evse, panel=rows[index * len(rows) // len(state.evses)])
        for index, evse in enumerate(state.evses)
    )
    return replace(state, evses=evses, panels=tuple(panels))


SCENARIOS: dict[str, Callable[[int], SiteState]] = {
    "roomy cap": lambda size: garage(size, 20.0, power_cap=False),
    "tight cap": lambda size: garage(size, 3.0, power_cap=False),
    "tight cap + kW cap": lambda size: garage(size, 3.0, power_cap=True),
    "3-level fuse tree, roomy cap": lambda size: fuse_tree(garage(size, 20.0, power_cap=False)),
    "3-level fuse tree, tight cap": lambda size: fuse_tree(garage(size, 3.0, power_cap=False)),
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
            # Sanity, not speed: a real allocation happened (a row's base load share may be
            # above its fuse: overload there, balancing everywhere else).
            assert allocation.mode in (Mode.NORMAL, Mode.OVERLOAD)
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
