"""Keep the chargers' long-lived objects out of CPython's full garbage collections.

Every charger link holds hundreds of objects for as long as it stays connected (sockets,
sessions, parsers, timers). A full collection walks every one of them: with 3,000 chargers it
walked 1.1 million objects for 0.6 s, and every charger's frames waited meanwhile. Objects moved
into the permanent generation (`gc.freeze`) are no longer walked, and freezing costs next to
nothing, so the links are frozen once the connect path settles: when no link opened for
`settle_s`, or at once after `batch` new links during a long storm.

Frozen objects still die by reference count, but a reference cycle among them is never
collected while frozen. So after as many links closed as were open at most (at least
`reclaim_after`), everything is thawed, collected once and frozen again: what closed links can
hold on to stays bounded by the most links open, at the price of one full collection per such
round of churn (one, not one per halving, when a whole fleet leaves).

Between freezes, a connect storm leaves every new link young: with CPython's default thresholds
(a collection every 700 allocations) a storm of 1,000 chargers ran ~570 young and ~50 middle
collections and 4-5 full ones over the links not frozen yet, ~0.3 s of CPU (a quarter of the
storm's). Collecting the young generation only every YOUNG_GENERATION allocations leaves none
full and ~0.06 s in all; what waits for it is only garbage in reference cycles, a few MiB at most.

At both moments the C heap's free pages are also given back to the system (supervision/heap.py):
a reclaim frees what closed links left.

`FreezeSchedule` decides (time in, decisions out); `LinkFreezer` applies its decisions to the
process's collector as links open and close (the LC feeds it the router's events).

What is frozen is counted when it is frozen (`ocpp_lc_gc_frozen_objects`), not at scrape time:
CPython counts the permanent generation by walking it, and with 9,000 chargers (millions of
frozen objects) each scrape held the event loop for 0.5-0.8 s. Frozen objects that die by
reference count stay in the count until the next reclaim recounts.
"""

from __future__ import annotations

import asyncio
import enum
import gc
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from supervision.heap import release_free_heap

SETTLE_S = 1.0
BATCH = 500
RECLAIM_AFTER = 100
YOUNG_GENERATION = 50_000


class Decision(enum.Enum):
    FREEZE = "freeze"  # move what lives now into the permanent generation
    RECLAIM = "reclaim"  # thaw, collect everything once, freeze again


class FreezeSchedule:
    """When to freeze and when to reclaim, from the links opening and closing."""

    def __init__(
        self, settle_s: float = SETTLE_S, batch: int = BATCH, reclaim_after: int = RECLAIM_AFTER
    ) -> None:
        self._settle_s = settle_s
        self._batch = batch
        self._reclaim_after = reclaim_after
        self._open = 0
        self._peak = 0  # most links open at once since the last reclaim
        self._unfrozen = 0  # links opened since the last freeze
        self._closed = 0  # links closed since the last reclaim
        self._last_opened = 0.0

    def opened(self, now: float) -> Decision | None:
        self._open += 1
        self._peak = max(self._peak, self._open)
        self._unfrozen += 1
        self._last_opened = now
        return self._freeze() if self._unfrozen >= self._batch else None

    def closed(self) -> Decision | None:
        self._open = max(0, self._open - 1)
        self._closed += 1
        if self._closed < max(self._reclaim_after, self._peak):
            return None
        self._closed = 0
        self._peak = self._open
        self._unfrozen = 0
        return Decision.RECLAIM

    def settle_at(self) -> float | None:
        """When the links opened so far are due to be frozen; None: nothing waits."""
        return self._last_opened + self._settle_s if self._unfrozen else None

    def tick(self, now: float) -> Decision | None:
        due = self.settle_at()
        return self._freeze() if due is not None and now >= due else None

    def _freeze(self) -> Decision:
        self._unfrozen = 0
        return Decision.FREEZE


def collect_young_less_often() -> None:
    """The process's collector runs its young collections every YOUNG_GENERATION allocations
    (the older generations' thresholds stay CPython's)."""
    gc.set_threshold(YOUNG_GENERATION)


class _Frozen:
    objects = 0  # in the permanent generation when last frozen or reclaimed


def freeze() -> None:
    """`gc.freeze()`, counting what it moves: the objects of the generations it empties, only
    what is new since the last freeze."""
    moved = sum(len(gc.get_objects(generation)) for generation in range(3))
    gc.freeze()
    _Frozen.objects += moved


def apply(decision: Decision) -> None:
    if decision is Decision.RECLAIM:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        _Frozen.objects = gc.get_freeze_count()  # one more walk, beside the collection's own
    else:
        freeze()
    release_free_heap()


class LinkFreezer:
    """Feeds links opening and closing to a `FreezeSchedule` and applies what it decides; one
    timer, armed for the settle time and moved later only when it fires early."""

    def __init__(self, schedule: FreezeSchedule | None = None) -> None:
        self._schedule = schedule or FreezeSchedule()
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None

    def opened(self) -> None:
        self._apply(self._schedule.opened(self._loop.time()))

    def closed(self) -> None:
        self._apply(self._schedule.closed())

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _apply(self, decision: Decision | None) -> None:
        if decision is not None:
            apply(decision)
        if self._timer is None:
            self._arm()

    def _arm(self) -> None:
        due = self._schedule.settle_at()
        if due is not None:
            self._timer = self._loop.call_at(due, self._fire)

    def _fire(self) -> None:
        self._timer = None
        decision = self._schedule.tick(self._loop.time())
        if decision is not None:
            apply(decision)
        self._arm()


class FrozenObjects(Collector):
    """`ocpp_lc_gc_frozen_objects`: what the collector no longer walks, as counted when frozen."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "ocpp_lc_gc_frozen_objects",
            "Objects moved into the garbage collector's permanent generation (start-up and open"
            " links), counted when frozen; those freed since count until the next reclaim",
            value=_Frozen.objects,
        )
