"""What each control period decided, shown: the site's and the panels' metrics, each EVSE's
limit in force, and a log line when the meter goes stale or comes back."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping

from prometheus_client import Gauge

from balancer.allocate import Allocation, Mode
from balancer.config import BalancerConfig
from balancer.metrics import BalancerMetrics
from balancer.model import SiteModel
from balancer.panels import PanelLoad
from balancer.ramp import Commanded
from balancer.site import MeterReading, SessionState, SiteState
from balancer.site_cap import CapSource, SiteCap

log = logging.getLogger(__name__)


def unlimited_sessions(state: SiteState) -> dict[str, float]:
    """Sessions the LC cannot limit, at the maximum they are planned at."""
    return {
        evse.evse_id: evse.max_current
        for evse in state.evses
        if not evse.obeys and evse.session is not SessionState.IDLE
    }


class SiteReport:
    def __init__(self, metrics: BalancerMetrics) -> None:
        self._metrics = metrics
        # What the last period's log lines said, so each change is logged once.
        self._stale = False
        self._over_cap: tuple[int, ...] = ()

    def report(
        self,
        config: BalancerConfig,
        cap: SiteCap,
        allocation: Allocation,
        reading: MeterReading | None,
        state: SiteState,
        panels: list[PanelLoad],
    ) -> None:
        metrics = self._metrics
        period = config.loop.period_s
        for phase, phase_cap in enumerate(config.phase_cap_a, start=1):
            metrics.cap.labels(f"L{phase}").set(phase_cap)
        for phase, phase_cap in enumerate(cap.phase_cap_a, start=1):
            metrics.effective_cap.labels(f"L{phase}").set(phase_cap)
        for source in CapSource:
            metrics.cap_binding.labels(source.value).set(1 if cap.binding is source else 0)
        if reading is not None:
            for phase, current in enumerate(reading.currents, start=1):
                metrics.site_current.labels(f"L{phase}").set(current)
            if any(c > limit for c, limit in zip(reading.currents, cap.phase_cap_a, strict=True)):
                metrics.seconds_above_cap.inc(period)
        if allocation.headroom is not None:
            for phase, headroom in enumerate(allocation.headroom, start=1):
                metrics.headroom.labels(f"L{phase}").set(headroom)
        for panel in panels:
            self._report_panel(panel, period)
        self._log_meter(state.meter_is_stale, allocation.over_cap_phases)
        metrics.meter_stale.set(1 if state.meter_is_stale else 0)
        for mode in Mode:
            metrics.mode.labels(mode.value).set(1 if allocation.mode is mode else 0)

    def report_evses(
        self,
        model: SiteModel,
        in_force: Mapping[str, Commanded],
        unlimited: Mapping[str, float],
    ) -> None:
        metrics = self._metrics
        for key in model.evses:
            limit = in_force.get(key)
            _show(metrics.evse_allocation, key, None if limit is None else limit.limit)
            _show(metrics.evse_unlimited, key, unlimited.get(key))
        for key, record in model.evses.items():
            if record.session is not SessionState.IDLE:
                for phase, amps in enumerate(record.measured, start=1):
                    if amps is not None:
                        metrics.evse_measured.labels(key, f"L{phase}").set(amps)

    def _report_panel(self, panel: PanelLoad, period: float) -> None:
        metrics = self._metrics
        for phase, fuse in enumerate(panel.fuse, start=1):
            metrics.panel_fuse.labels(panel.name, f"L{phase}").set(fuse)
        if panel.headroom is not None:
            for phase, room in enumerate(panel.headroom, start=1):
                metrics.panel_headroom.labels(panel.name, f"L{phase}").set(room)
        if panel.current is not None:
            for phase, current in enumerate(panel.current, start=1):
                metrics.panel_current.labels(panel.name, f"L{phase}").set(current)
            if any(c > fuse for c, fuse in zip(panel.current, panel.fuse, strict=True)):
                metrics.seconds_above_fuse.labels(panel.name).inc(period)

    def _log_meter(self, stale: bool, over_cap: tuple[int, ...]) -> None:
        if stale and not self._stale:
            log.error(
                "site meter stale: sessions on their safe current, those the LC cannot limit "
                "planned at their maximum, the others cut or paused where that does not fit"
            )
        elif self._stale and not stale:
            log.info("site meter back: balancing again")
        self._stale = stale
        if over_cap and over_cap != self._over_cap:
            log.error(
                "site meter stale and the chargers the LC cannot limit may exceed the cap on "
                "their own on %s: nothing the LC does can keep the site within it",
                ", ".join(f"L{phase}" for phase in over_cap),
            )
        self._over_cap = over_cap


def _show(gauge: Gauge, evse: str, value: float | None) -> None:
    """Set an EVSE's series, or remove it when there is nothing true to show."""
    if value is not None:
        gauge.labels(evse).set(value)
    else:
        with contextlib.suppress(KeyError):  # never shown
            gauge.remove(evse)
