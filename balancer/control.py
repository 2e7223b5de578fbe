"""The control loop: meter → site state → allocate() → charging profiles, every period.

Per period: poll the meters (balancer/site_meters.py), snapshot the site, allocate, pass each
EVSE's target through the ramp (balancer/limit_ramp.py), and send the changed limits as
SetChargingProfile through the router (router/chargers.py) without waiting for the answers
(balancer/limit_dispatch.py), then show what was decided (balancer/site_report.py).
Between periods the router's events keep the site model current and say when a charger can be
set up (balancer/charger_setup.py). What the LC learnt of each charger's obedience is kept in
one place (balancer/standing.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from balancer.allocate import Allocation, allocate
from balancer.charger_setup import ChargerSetUp
from balancer.config import BalancerConfig
from balancer.evse_plan import evse_states
from balancer.history import SiteHistory, SiteSample
from balancer.limit_dispatch import LimitDispatch
from balancer.limit_ramp import LimitRamp
from balancer.metrics import BalancerMetrics
from balancer.model import SiteModel, charger_evses, evse_key
from balancer.panels import PanelLoad, panel_loads, panel_states
from balancer.profile_calls import ProfileCalls
from balancer.profiles import Capabilities
from balancer.ramp import Commanded, above_margin
from balancer.setup import SetUps, Stage
from balancer.shared import BalancerState
from balancer.site import MeterReading, SiteState
from balancer.site_cap import SiteCap, site_cap
from balancer.site_meters import SiteMeters
from balancer.site_report import SiteReport, unlimited_sessions
from balancer.standing import ChargerStanding
from modbus.reader import PolledMeter
from router import events as ev
from router.chargers import Chargers
from supervision.tasks import Tasks, report_failure

log = logging.getLogger(__name__)

# Events from a charger's own calls: a charger that makes them talks to its CSMS.
_CHARGER_CALLS = (
    ev.ChargerHeartbeat
    | ev.StatusChanged
    | ev.TransactionStarted
    | ev.TransactionUpdated
    | ev.TransactionEnded
    | ev.MeterSampled
)


class LoadBalancer:
    def __init__(
        self,
        config: BalancerConfig,
        chargers: Chargers,
        meter: PolledMeter,
        metrics: BalancerMetrics | None = None,
        clock: Callable[[], float] | None = None,
        panel_meters: Mapping[str, PolledMeter] | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or BalancerMetrics()
        self._clock = clock or asyncio.get_running_loop().time
        self._meters = SiteMeters(meter, panel_meters or {}, self.metrics, self._clock)
        self.model = SiteModel(config, self._clock)
        # The CSMS's limit on the whole site at a wall time (A per phase); None: it sets none.
        self.csms_limit_a: Callable[[datetime], float | None] = lambda _now: None
        # An EMS's limit from outside OCPP at a wall time (A per phase); None: it sets none.
        self.external_limit_a: Callable[[datetime], float | None] = lambda _now: None
        self.cap = site_cap(config.phase_cap_a, None)  # re-evaluated every period
        self._ramp = LimitRamp()
        # Sessions the LC cannot limit, at the maximum they are planned at.
        self.unlimited: dict[str, float] = {}
        self.standing = ChargerStanding(self.metrics)
        self.last_allocation: Allocation | None = None
        self.panel_loads: list[PanelLoad] = []  # every distribution panel, as last reported
        self.history = SiteHistory()
        self._report = SiteReport(self.metrics)
        self._tasks = Tasks()
        self.set_ups = SetUps(config.loop.setup_retry_s)
        state = BalancerState(self.model, self.standing, self._current_config, self._clock)
        calls = ProfileCalls(chargers, state, self.metrics)
        self._limits = LimitDispatch(state, calls, self._tasks, self._resend_through_station_max)
        self._set_up = ChargerSetUp(state, self.set_ups, chargers, calls, self._limits, self._tasks)
        chargers.subscribe(self._on_event)

    # -- what the LC shows of each charger (balancer/standing.py) ---------------------------

    @property
    def commanded(self) -> dict[str, Commanded]:
        """What the ramp decided for each EVSE, sent or not."""
        return self._ramp.commanded

    @property
    def in_force(self) -> dict[str, Commanded]:
        """Limits the charger accepted, and when: what is shown, and what obedience is judged
        by."""
        return self._limits.in_force

    @property
    def capabilities(self) -> dict[str, Capabilities]:
        return self.standing.capabilities

    @property
    def station_max(self) -> set[str]:
        """Chargers limited through their charger maximum profile, across reconnects."""
        return self.standing.station_max

    @property
    def disobedient(self) -> set[str]:
        """EVSEs that do not follow the LC's limits: planned at their maximum."""
        return self.standing.disobedient

    # -- events ------------------------------------------------------------------------------

    def _on_event(self, event: ev.Event) -> None:
        if self.config.behind_local_controller(event.identity):
            return  # the LC in front of it balances it
        self.model.handle(event)
        if isinstance(event, ev.ChargerConnected):
            if self.model.is_local_controller(event.identity):
                # It takes no Tx profile (it has no EVSE of its own): its site's maximum only.
                self.standing.station_max.add(event.identity)
            self.standing.reconnected(charger_evses(self.model, event.identity))
            self._set_up.connected(event.identity)
        elif isinstance(event, ev.ChargerDisconnected):
            self.set_ups.disconnected(event.identity)
        elif isinstance(event, ev.BootNotified):
            self.set_ups.booted(event.identity, event.status)
        elif isinstance(event, _CHARGER_CALLS):
            self.set_ups.called(event.identity)
            if isinstance(event, ev.TransactionUpdated) and event.evse_id is None:
                self._set_up.place_answer(event)
        elif isinstance(
            event, ev.ChargingProfileSet | ev.ChargingProfileCleared
        ) and self._set_up.floor_removed(event):
            for key in charger_evses(self.model, event.identity):
                # Whatever cleared the floor may have cleared the dynamic limit too.
                self._ramp.send_again(key)
        if isinstance(event, ev.ChargerDisconnected | ev.TransactionEnded):
            for key, record in self.model.evses.items():
                if record.identity == event.identity and record.transaction_id is None:
                    self._ramp.forget(key)
                    self.in_force.pop(key, None)
        self._set_up.start_due()

    def _resend_through_station_max(self, identity: str) -> None:
        """A charger just limited through its charger maximum gets its current limit that way
        at once."""
        key = evse_key(identity, 1)
        if key in self.commanded:
            self._limits.dispatch(self.model.evses[key], self.commanded[key].limit)

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Step every period for ever. A step that fails is logged and counted, and the next
        period steps again: one bad event or reading must not end balancing for good."""
        next_at = self._clock()
        while True:
            try:
                await self.step()
            except Exception as exc:
                report_failure("balancer-step", exc)
            else:
                self.metrics.last_step.set(time.time())
            next_at = max(next_at + self.config.loop.period_s, self._clock())
            await asyncio.sleep(next_at - self._clock())

    async def step(self) -> Allocation:
        self.cap = self._site_cap()
        self._set_up.start_due()  # those that wait for a retry
        for identity in self.model.chargers:
            self._set_up.ask_for_sessions(identity)
        reading, by_panel = await self._meters.read()
        decided_from = self._clock()
        now = decided_from
        state = self.site_state(now, reading, by_panel)
        allocation = allocate(state)
        self.last_allocation = allocation
        self.panel_loads = panel_loads(state, allocation.panel_headroom)
        urgent = above_margin(
            None if reading is None else reading.currents,
            self.cap.phase_cap_a,
            self.panel_loads,
            self.config.margin_a,
        )
        self._command(allocation, state, now, urgent)
        self._check_obedience()
        self.metrics.decision_seconds.observe(self._clock() - decided_from)
        self._report.report(self.config, self.cap, allocation, reading, state, self.panel_loads)
        self.unlimited = unlimited_sessions(state)
        self._report.report_evses(self.model, self.in_force, self.unlimited)
        measured = None if state.meter_is_stale or reading is None else reading.currents
        config = self.config
        self.history.record(
            SiteSample(
                now,
                measured,
                self.cap.phase_cap_a,
                config.margin_a,
                allocation.planned,
                allocation.mode,
            )
        )
        return allocation

    def site_state(
        self,
        now: float,
        reading: MeterReading | None,
        panel_readings: Mapping[str, MeterReading | None] | None = None,
    ) -> SiteState:
        # Until its set-up is done the LC knows nothing of a charger's obedience: its maximum.
        not_set_up = {
            key
            for key, record in self.model.evses.items()
            if self.set_ups.stage(record.identity) not in (Stage.DONE, None)
        }
        unlimited = self.standing.disobedient | not_set_up
        evses = evse_states(self.model, now, self.commanded, unlimited, self._ramp.turns)
        return SiteState(
            phase_cap=self.cap.phase_cap_a,
            now=now,
            meter=reading,
            meter_stale_after_s=self.config.meter.stale_after_s,
            evses=evses,
            margin=self.config.margin_a,
            power_cap_kw=self.config.power_cap_kw,
            nominal_voltage=self.config.nominal_voltage_v,
            rotation_period_s=self.config.loop.rotation_period_s,
            panels=panel_states(self.config.panels, panel_readings or {}),
            base_load_before=None if self.last_allocation is None else self.last_allocation.base,
        )

    def _command(self, allocation: Allocation, state: SiteState, now: float, urgent: bool) -> None:
        loop = self.config.loop
        limits = self._ramp.limits_to_send(allocation, state, self.model, now, urgent, loop)
        for key, limit in limits.items():
            self._limits.dispatch(self.model.evses[key], limit)

    def _check_obedience(self) -> None:
        """Flag EVSEs that draw clearly more than their limit after the reaction time."""
        loop = self.config.loop
        disobeying = []
        for key, command in self.in_force.items():
            record = self.model.evses.get(key)
            if record is None or key in self.disobedient or record.measured_at is None:
                continue
            waited = record.measured_at - command.at
            drawn = max((c for c in record.measured if c is not None), default=0.0)
            if waited >= loop.reaction_time_s and drawn > command.limit + loop.obey_tolerance_a:
                log.error(
                    "%s draws %.1f A over its limit %.1f A: planned at its maximum",
                    key,
                    drawn,
                    command.limit,
                )
                disobeying.append(key)
        self.standing.mark_disobedient(disobeying)

    def apply_config(self, config: BalancerConfig) -> None:
        """A reloaded config: the new cap and timings apply from the next period on."""
        if config.meter != self.config.meter:
            log.warning("meter settings changed: they take effect at the next restart")
        sub_meters = {panel.name: panel.meter for panel in config.panels if panel.meter}
        running = {panel.name: panel.meter for panel in self.config.panels if panel.meter}
        if sub_meters != running:
            log.warning(
                "panel sub-meters changed: they take effect at the next restart; until then a "
                "panel whose sub-meter is not read counts as stale (its chargers on safe current)"
            )
        self.config = config
        self.cap = self._site_cap()
        self.model.reconfigure(config)

    def _current_config(self) -> BalancerConfig:
        return self.config

    def _site_cap(self) -> SiteCap:
        now = datetime.now(UTC)
        return site_cap(self.config.phase_cap_a, self.csms_limit_a(now), self.external_limit_a(now))

    async def stop(self) -> None:
        await self._tasks.stop()
