"""The chargers' links are frozen out of full collections once their connects settle, a
storm of them connecting runs no full collection meanwhile, a churn of chargers connecting
and leaving does not pile up frozen objects, and a scrape does not walk them."""

from __future__ import annotations

import gc
import math

import aiohttp
import pytest

from supervision.gc_freeze import (
    RECLAIM_AFTER,
    Decision,
    FreezeSchedule,
    FrozenObjects,
    collect_young_less_often,
    freeze,
)
from tests.peers import connect_charge_point, wait_until_async
from tests.router.test_hold_crash import LcProcess
from tests.supervision.conftest import lc_metric

STORM_OBJECTS = 200_000  # what a storm of 1,000 chargers leaves alive, ~200 objects each
CHARGERS = 30
ROUNDS = 12  # enough for a link's uncollected cycles to pile up past the bound unreclaimed


def test_links_freeze_once_no_link_opened_for_the_settle_time() -> None:
    schedule = FreezeSchedule(settle_s=1.0, batch=100, reclaim_after=10)
    assert schedule.settle_at() is None
    assert schedule.opened(10.0) is None
    assert schedule.opened(10.5) is None
    assert schedule.tick(11.0) is None  # another link opened meanwhile
    assert schedule.settle_at() == 11.5
    assert schedule.tick(11.5) is Decision.FREEZE
    assert schedule.settle_at() is None


def test_a_long_storm_freezes_every_batch() -> None:
    schedule = FreezeSchedule(settle_s=1.0, batch=3, reclaim_after=10)
    decisions = [schedule.opened(0.1 * n) for n in range(7)]
    assert decisions == [None, None, Decision.FREEZE, None, None, Decision.FREEZE, None]


def test_reclaims_after_as_many_links_closed_as_were_open_at_most() -> None:
    schedule = FreezeSchedule(settle_s=1.0, batch=100, reclaim_after=2)
    for n in range(4):
        schedule.opened(float(n))
    assert schedule.tick(10.0) is Decision.FREEZE
    assert [schedule.closed() for _ in range(3)] == [None, None, None]  # 4 were open
    assert schedule.closed() is Decision.RECLAIM  # once for the whole fleet leaving
    assert schedule.settle_at() is None  # the reclaim froze what was open
    schedule.opened(11.0)
    assert schedule.closed() is None  # counted afresh: 1 closed, at least 2 wanted
    assert schedule.opened(12.0) is None
    assert schedule.closed() is Decision.RECLAIM


def test_a_storm_of_new_links_runs_no_full_collection() -> None:
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()  # as at start-up: only what the storm adds is walked
    try:
        collect_young_less_often()
        full = gc.get_stats()[2]["collections"]
        links = [[index] for index in range(STORM_OBJECTS)]
        assert gc.get_stats()[2]["collections"] == full
    finally:
        gc.set_threshold(*thresholds)  # leave the test process's collector as it was
        gc.unfreeze()
    assert len(links) == STORM_OBJECTS


@pytest.mark.timeout(180)
async def test_churn_of_chargers_keeps_frozen_objects_bounded(lc: LcProcess) -> None:
    url = f"ws://127.0.0.1:{lc.port}"
    await wait_until_async(lambda: _has_metric(lc), timeout_s=10, what="metrics served")
    at_start = await lc_metric(lc, "ocpp_lc_gc_frozen_objects")
    peaks: list[float] = []
    for round_ in range(ROUNDS):
        before = await lc_metric(lc, "ocpp_lc_gc_frozen_objects")
        chargers = [
            await connect_charge_point(url, f"CP{round_}-{n}", "ocpp2.0.1") for n in range(CHARGERS)
        ]
        for charger in chargers:
            await charger.cp.boot()

        async def frozen_grew(before: float = before) -> bool:
            return await lc_metric(lc, "ocpp_lc_gc_frozen_objects") > before

        await wait_until_async(frozen_grew, timeout_s=20, what="the new links frozen")
        peaks.append(await lc_metric(lc, "ocpp_lc_gc_frozen_objects"))
        for charger in chargers:
            await charger.close()

        async def all_gone() -> bool:
            return await lc_metric(lc, "ocpp_lc_chargers_connected") == 0

        await wait_until_async(all_gone, timeout_s=20, what="every charger gone")
    per_round = peaks[0] - at_start
    print(f"frozen at start {at_start:,.0f}, peaks {[f'{p:,.0f}' for p in peaks]}")
    assert per_round > CHARGERS * 100  # the links' objects were frozen
    # Counted when frozen, a closed link's objects stay counted until a reclaim recounts, after
    # RECLAIM_AFTER closes: unreclaimed, twelve rounds would count twelve rounds' worth.
    rounds_per_reclaim = math.ceil(RECLAIM_AFTER / CHARGERS)
    assert max(peaks) < peaks[0] + rounds_per_reclaim * per_round
    assert min(peaks[rounds_per_reclaim:]) < max(peaks)  # recounted


def _frozen_objects() -> float:
    (family,) = FrozenObjects().collect()
    return family.samples[0].value


def test_a_scrape_reads_the_count_taken_when_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    gc.collect()
    before = _frozen_objects()
    try:
        links = [[index] for index in range(10_000)]
        freeze()
        counted = _frozen_objects() - before
        assert counted >= len(links)

        def walk_every_frozen_object() -> int:
            raise AssertionError("the scrape walked the permanent generation")

        # CPython counts the permanent generation by walking it: 0.5-0.8 s with 9,000 chargers.
        monkeypatch.setattr(gc, "get_freeze_count", walk_every_frozen_object)
        assert _frozen_objects() - before == counted
    finally:
        gc.unfreeze()


async def _has_metric(lc: LcProcess) -> bool:
    try:
        return await lc_metric(lc, "ocpp_lc_gc_frozen_objects") > 0
    except aiohttp.ClientError:
        return False
