"""How late the event loop runs what falls due: `ocpp_lc_event_loop_lag_seconds`.

One event loop carries every charger's frames, so whatever holds it (a long callback, a garbage
collection, a burst of timers due at once) delays every charger by as much. A probe due every
PROBE_INTERVAL_S records how late it ran: a histogram an operator can alert on, and the first
place to look when chargers see slow answers. One timer for the process, nothing per frame.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Histogram

PROBE_INTERVAL_S = 0.1

REGISTRY = CollectorRegistry()
LOOP_LAG = Histogram(
    "ocpp_lc_event_loop_lag_seconds",
    "How late the event loop ran a probe due every 0.1 s (every charger's frames wait as long)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)


class LoopLagProbe:
    """Records, every `interval_s`, how late the loop ran the probe into LOOP_LAG."""

    def __init__(self, interval_s: float = PROBE_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._loop = asyncio.get_running_loop()
        self._due = self._loop.time() + interval_s
        self._timer: asyncio.TimerHandle | None = self._loop.call_at(self._due, self._ran)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _ran(self) -> None:
        now = self._loop.time()
        # The loop may run a timer up to its clock's resolution early.
        LOOP_LAG.observe(max(0.0, now - self._due))
        self._due = now + self._interval_s
        self._timer = self._loop.call_at(self._due, self._ran)
