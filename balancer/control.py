"""The control loop: meter → site state → allocate() → charging profiles, every period.

Per period: poll the meter (a failed poll keeps the last good reading, whose age decides
staleness), snapshot the site, allocate, pass each EVSE's target through the ramp (cut at
once, raise slowly), and send the changed limits as SetChargingProfile through the router
(router/chargers.py) without waiting for the answers, so one slow charger never delays
the others.
Once a charger can answer (its boot accepted, or its first call after a reconnect), its
smart-charging capabilities are read and its floor installed (balancer/setup.py says when).
A charger with one EVSE that refuses Tx profiles is limited through its charger maximum instead
(balancer/station_max.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Gauge

from balancer.allocate import Allocation, FuseTree, Mode, allocate
from balancer.config import BalancerConfig
from balancer.history import SiteHistory, SiteSample
from balancer.metrics import BalancerMetrics
from balancer.model import EvseRecord, SiteModel, evse_key, site_reading
from balancer.panels import PanelLoad, panel_loads, panel_states
from balancer.profiles import (
    Capabilities,
    ProfileTarget,
    as_station_max,
    capability_query,
    clear_charging_profile,
    installed_profile,
    parse_capabilities,
    session_query,
    set_charging_profile,
)
from balancer.ramp import (
    Commanded,
    Step,
    Turns,
    above_margin,
    fit_into_headroom,
    next_limit,
    next_turns,
)
from balancer.setup import Attempt, SetUps, Stage
from balancer.site import MeterReading, SessionState, SiteState
from balancer.site_cap import CapSource, SiteCap, site_cap
from balancer.station_max import (
    Answer,
    ClearProfile,
    StationMaxSwitch,
    Switched,
)
from modbus.errors import MeterReadError
from modbus.reader import PolledMeter, PolledReading
from ocpp_knowledge.profiles import cleared_by, profile_from_json
from router import events as ev
from router.chargers import (
    ChargerCallFailed,
    ChargerCallRejected,
    ChargerCallTimeout,
    ChargerNotConnected,
    Chargers,
)
from router.frames import OcppVersion
from supervision.tasks import Tasks, report_failure

log = logging.getLogger(__name__)

# CALLERROR codes that mean "this charger does not do smart charging".
_UNSUPPORTED = ("NotImplemented", "NotSupported")
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
        self._chargers = chargers
        self._meter = meter
        self._panel_meters = dict(panel_meters or {})  # by panel name
        self.metrics = metrics or BalancerMetrics()
        self._clock = clock or asyncio.get_running_loop().time
        self.model = SiteModel(config, self._clock)
        # The CSMS's limit on the whole site at a wall time (A per phase); None: it sets none.
        self.csms_limit_a: Callable[[datetime], float | None] = lambda _now: None
        # An EMS's limit from outside OCPP at a wall time (A per phase); None: it sets none.
        self.external_limit_a: Callable[[datetime], float | None] = lambda _now: None
        self.cap = site_cap(config.phase_cap_a, None)  # re-evaluated every period
        self.commanded: dict[str, Commanded] = {}  # what the ramp decided, sent or not
        # Limits the charger accepted, and when: what is shown, and what obedience is judged by.
        self.in_force: dict[str, Commanded] = {}
        # Sessions the LC cannot limit, at the maximum they are planned at.
        self.unlimited: dict[str, float] = {}
        self.disobedient: set[str] = set()
        self.capabilities: dict[str, Capabilities] = {}
        # Chargers limited through their charger maximum profile, across reconnects.
        self.station_max: set[str] = set()
        self._switching: set[str] = set()
        self.last_allocation: Allocation | None = None
        self.panel_loads: list[PanelLoad] = []  # every distribution panel, as last reported
        self.history = SiteHistory()
        self._turns: Turns = {}
        self._refreshed_at: dict[str, float] = {}
        self._stale = False
        self._over_cap: tuple[int, ...] = ()
        self._asked: set[str] = set()  # EVSEs whose unknown session the charger was asked for
        self._tasks = Tasks()
        self.set_ups = SetUps(config.loop.setup_retry_s)
        chargers.subscribe(self._on_event)

    # -- events ------------------------------------------------------------------------------

    def _on_event(self, event: ev.Event) -> None:
        if self.config.behind_local_controller(event.identity):
            return  # the LC in front of it balances it
        self.model.handle(event)
        if isinstance(event, ev.ChargerConnected):
            if self.model.is_local_controller(event.identity):
                # It takes no Tx profile (it has no EVSE of its own): its site's maximum only.
                self.station_max.add(event.identity)
            self.capabilities.pop(event.identity, None)
            # A reconnect (often a reboot or a firmware update) gets a fresh start: its setup
            # flags it again if it still refuses profiles, and the meter if it overdraws.
            self.disobedient -= {
                key for key, record in self.model.evses.items() if record.identity == event.identity
            }
            self.metrics.not_obeying.set(len(self.disobedient))
            self.set_ups.connected(event.identity)
            self._asked -= {key for key in self._asked if key.startswith(f"{event.identity}/")}
        elif isinstance(event, ev.ChargerDisconnected):
            self.set_ups.disconnected(event.identity)
        elif isinstance(event, ev.BootNotified):
            self.set_ups.booted(event.identity, event.status)
        elif isinstance(event, _CHARGER_CALLS):
            self.set_ups.called(event.identity)
            if isinstance(event, ev.TransactionUpdated) and event.evse_id is None:
                self._place_answer(event)
        elif isinstance(event, ev.ChargingProfileSet | ev.ChargingProfileCleared):
            self._check_floor(event)
        if isinstance(event, ev.ChargerDisconnected | ev.TransactionEnded):
            for key, record in self.model.evses.items():
                if record.identity == event.identity and record.transaction_id is None:
                    self.commanded.pop(key, None)
                    self.in_force.pop(key, None)
                    self._refreshed_at.pop(key, None)
        self._start_set_ups()

    def _start_set_ups(self) -> None:
        for attempt in self.set_ups.due(self._clock()):
            self._tasks.spawn(self._set_up(attempt), "charger-set-up")

    async def _set_up(self, attempt: Attempt) -> None:
        done = False
        try:
            done = await self._set_up_charger(attempt.identity)
        finally:
            self.set_ups.finished(attempt, done, self._clock())
            if not done:
                log.info("%s: set-up unanswered; tried again later", attempt.identity)

    def _ask_for_sessions(self, identity: str) -> None:
        """Sessions that ran before an LC restart are taken back at their next meter values;
        a TriggerMessage makes that next one come now. Asked once per EVSE and connection, for
        a car its charger has reported for a reaction time without a session the LC saw start
        (a session starting now is reported within that)."""
        if self.set_ups.stage(identity) is not Stage.DONE:
            return  # it may not answer yet: asked once set up
        version = self.model.chargers[identity].version
        waited = self.config.loop.reaction_time_s
        for record in self.model.unknown_sessions(identity, self._clock(), waited):
            if record.key not in self._asked:
                self._asked.add(record.key)
                payload = session_query(version, record.evse_id)
                self._tasks.spawn(self._trigger(identity, payload), "ask-for-session")

    def _place_answer(self, event: ev.TransactionUpdated) -> None:
        """A 2.0.1 event without `evse` for a session the LC does not know, on a charger with
        several EVSEs: the answer to the LC's TriggerMessage when it asked one EVSE only."""
        if self.model.knows(event.identity, event.transaction_id):
            return
        unknown = self.model.unknown_sessions(event.identity, self._clock(), 0.0)
        asked = [record for record in unknown if record.key in self._asked]
        if len(asked) == 1:
            self.model.handle(replace(event, evse_id=asked[0].evse_id))

    async def _trigger(self, identity: str, payload: dict[str, Any]) -> None:
        timeout = self.config.loop.setup_timeout_s
        with contextlib.suppress(ChargerCallFailed):
            await self._chargers.call(identity, "TriggerMessage", payload, timeout)

    async def _set_up_charger(self, identity: str) -> bool:
        """Read the charger's smart-charging capabilities, then install its floor profile (as
        its charger maximum if it rejects a TxDefaultProfile). False when the charger did not
        answer in time: set-up calls wait only `setup_timeout_s`, as every call of the CSMS to
        this charger queues behind them."""
        record = self.model.chargers[identity]
        action, payload = capability_query(record.version)
        timeout = self.config.loop.setup_timeout_s
        try:
            answer = await self._chargers.call(identity, action, payload, timeout)
            capabilities = parse_capabilities(record.version, answer)
        except ChargerCallRejected as exc:
            log.warning("%s: could not read smart-charging capabilities (%s)", identity, exc)
            capabilities = Capabilities()
        except (ChargerCallTimeout, ChargerNotConnected):
            return False
        if not capabilities.smart_charging:
            log.warning("%s: smart charging disabled: planned at its maximum", identity)
            self._unsteerable(identity)
        self.capabilities[identity] = capabilities
        floor = self._floor(identity, station_max=identity in self.station_max)
        floor_answer = await self._send(identity, floor, timeout)
        if floor_answer is Answer.NONE:
            return False
        if floor_answer is Answer.REFUSED and (
            floor.station_max or not await self._to_station_max(identity, clear_floor=False)
        ):
            self._refused(identity, None)
        return True

    def _check_floor(self, event: ev.ChargingProfileSet | ev.ChargingProfileCleared) -> None:
        if event.accepted and self._floor_removed_by(event):
            log.warning("%s: the CSMS removed the LC's floor: installing it again", event.identity)
            self.set_ups.redo(event.identity)
            for key, record in self.model.evses.items():
                if record.identity == event.identity and key in self._refreshed_at:
                    # Whatever cleared the floor may have cleared the dynamic limit too.
                    self._refreshed_at[key] = -math.inf

    def _floor_removed_by(self, event: ev.ChargingProfileSet | ev.ChargingProfileCleared) -> bool:
        """Whether a CSMS call the charger accepted removed the LC's floor: a clear that matches
        it, or a profile of the same purpose and stack level on EVSE 0, which replaces it."""
        identity = event.identity
        charger = self.model.chargers.get(identity)
        if charger is None or self.set_ups.stage(identity) is not Stage.DONE:
            return False  # a set-up still to come installs the floor anyway
        v16 = charger.version is OcppVersion.V16
        floor = installed_profile(
            charger.version,
            self._floor(identity, station_max=identity in self.station_max),
            self.capabilities.get(identity, Capabilities()).watts_only,
            self.config.nominal_voltage_v,
        )
        if isinstance(event, ev.ChargingProfileCleared):
            return cleared_by(floor, event.criteria)
        try:
            profile = profile_from_json(event.evse_id, event.profile, v16)
        except (KeyError, ValueError, TypeError):
            return False
        return profile.profile_id != floor.profile_id and (
            profile.connector_id,
            profile.purpose,
            profile.stack_level,
        ) == (floor.connector_id, floor.purpose, floor.stack_level)

    def _floor(self, identity: str, station_max: bool) -> ProfileTarget:
        """The charger's safe current on EVSE 0, without end."""
        settings = self.model.chargers[identity].settings
        floor = ProfileTarget(
            evse_id=0,
            profile_id=self.config.loop.profile_id_base,
            stack_level=self._stack_level(self.capabilities.get(identity, Capabilities())),
            limit_a=settings.safe_current_a,
            phases=settings.phases,
        )
        return as_station_max(floor) if station_max else floor

    def _stack_level(self, capabilities: Capabilities) -> int:
        """The floor's stack level; the dynamic limit goes one above it."""
        wanted = self.config.loop.stack_level
        if capabilities.max_stack_level is not None and wanted + 1 > capabilities.max_stack_level:
            return max(capabilities.max_stack_level - 1, 0)
        return wanted

    def _unsteerable(self, identity: str) -> None:
        for key, record in self.model.evses.items():
            if record.identity == identity:
                self.disobedient.add(key)
        self.metrics.not_obeying.set(len(self.disobedient))

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
        self._start_set_ups()  # those that wait for a retry
        for identity in self.model.chargers:
            self._ask_for_sessions(identity)
        reading, *panel_readings = await asyncio.gather(
            self._read_meter(), *map(self._read_sub_meter, self._panel_meters.values())
        )
        decided_from = self._clock()
        now = decided_from
        by_panel = dict(zip(self._panel_meters, panel_readings, strict=True))
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
        self._check_obedience(now)
        self.metrics.decision_seconds.observe(self._clock() - decided_from)
        self._report(allocation, reading, state)
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
        unlimited = self.disobedient | not_set_up
        evses = self.model.evse_states(now, self.commanded, unlimited, self._turns)
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

    async def _read_meter(self) -> MeterReading | None:
        polled = await self._poll(self._meter)
        if polled is None:
            return None
        self.metrics.meter_age.set(polled.age(self._clock()))
        return site_reading(polled.currents, polled.voltages, polled.taken_at)

    async def _read_sub_meter(self, meter: PolledMeter) -> MeterReading | None:
        polled = await self._poll(meter)
        if polled is None:
            return None
        return site_reading(polled.currents, polled.voltages, polled.taken_at)

    async def _poll(self, meter: PolledMeter) -> PolledReading | None:
        """A fresh reading, else the last good one (its age decides whether it still counts)."""
        try:
            return await meter.read()
        except MeterReadError as exc:
            self.metrics.meter_read_errors.inc()
            log.debug("meter read failed: %s", exc)
            return meter.last_reading

    def _command(self, allocation: Allocation, state: SiteState, now: float, urgent: bool) -> None:
        loop = self.config.loop
        steps: dict[str, Step] = {}
        # Those the LC cannot limit are in the budget at their maximum already.
        tree = FuseTree.of(state.panels)
        fuses = {evse.evse_id: tree.resources(evse) for evse in state.evses if evse.obeys}
        for key, record in self.model.evses.items():
            in_session = record.transaction_id is not None
            if not (in_session or self.model.is_local_controller(record.identity)):
                continue
            if key not in allocation.limits:
                continue
            target = allocation.limits[key]
            previous = self.commanded.get(key)
            min_current = self.model.chargers[record.identity].settings.min_current_a
            limit = next_limit(target, previous, min_current, now, loop, urgent)
            steps[key] = Step(limit, target, previous, fuses.get(key, ()))
        limits = {key: step.proposed for key, step in steps.items()}
        if allocation.steered_room:  # balancing on a fresh reading: no self-made overshoot
            limits = fit_into_headroom(steps, allocation.steered_room, now, loop.reaction_time_s)
        for key, limit in limits.items():
            previous = steps[key].previous
            if previous is not None and limit == previous.limit:
                if now - self._refreshed_at.get(key, now) < loop.refresh_s:
                    continue  # unchanged, and its bounded profile is still far from lapsing
            else:
                was = 0.0 if previous is None else previous.limit
                self.commanded[key] = Commanded(limit, now, was)
            self._refreshed_at[key] = now
            self._dispatch(self.model.evses[key], limit)
        self._turns = next_turns(self._turns, limits, set(limits), now)

    def _dispatch(self, record: EvseRecord, limit: float) -> None:
        charger = self.model.chargers[record.identity]
        capabilities = self.capabilities.get(record.identity)
        if (
            capabilities is None
            or not charger.connected
            or record.key in self.disobedient
            or record.identity in self._switching
        ):
            return  # not set up yet, gone, known to ignore profiles, or sent once switched
        loop = self.config.loop
        target = ProfileTarget(
            evse_id=record.evse_id,
            profile_id=loop.profile_id_base + record.evse_id,
            stack_level=self._stack_level(capabilities) + 1,
            limit_a=limit,
            phases=charger.settings.phases,
            transaction_id=record.transaction_id,
            duration_s=int(loop.profile_duration_s),
            start=datetime.now(UTC),
        )
        if record.identity in self.station_max:
            target = as_station_max(target)
        self._tasks.spawn(self._send_limit(record, target), "send-limit")

    async def _send_limit(self, record: EvseRecord, target: ProfileTarget) -> None:
        """Send a dynamic limit; a rejected TxProfile switches the charger to its maximum. It
        waits only `setup_timeout_s`: every call of the CSMS to this charger, and the charger's
        next limit (perhaps a cut), queue behind it."""
        transaction = record.transaction_id
        answer = await self._send(record.identity, target, self.config.loop.setup_timeout_s)
        if answer is Answer.ACCEPTED and self.model.evses.get(record.key) is record:
            self.in_force[record.key] = Commanded(target.limit_a, self._clock())
        if answer is not Answer.REFUSED:
            return
        if self.model.evses.get(record.key) is not record or record.transaction_id != transaction:
            return  # the session ended meanwhile: a profile for it is rightly refused
        if target.station_max or not await self._to_station_max(record.identity, clear_floor=True):
            self._refused(record.identity, record.key)

    async def _to_station_max(self, identity: str, clear_floor: bool) -> bool:
        """Limit a charger with one EVSE that refuses Tx profiles through its charger maximum
        profile (balancer/station_max.py walks the steps). True when it is (or is being)
        switched."""
        if identity in self.station_max or identity in self._switching:
            return True
        if self.model.chargers[identity].settings.evses != 1:
            return False
        switch = StationMaxSwitch(self._floor(identity, station_max=False), clear_floor)
        self._switching.add(identity)
        try:
            step = switch.start()
            while not isinstance(step, Switched):
                if isinstance(step, ClearProfile):
                    step = switch.cleared(await self._clear_profile(identity, step.profile_id))
                else:
                    step = switch.sent(await self._send(identity, step.target))
        finally:
            self._switching.discard(identity)
        if not step.done:
            return False
        self.station_max.add(identity)
        self.metrics.station_max_chargers.set(len(self.station_max))
        log.warning("%s refuses Tx profiles: limited through its charger maximum", identity)
        key = evse_key(identity, 1)
        if key in self.commanded:
            self._dispatch(self.model.evses[key], self.commanded[key].limit)
        return True

    async def _clear_profile(self, identity: str, profile_id: int) -> bool:
        """ClearChargingProfile; True when answered (Unknown: the profile was not there)."""
        version = self.model.chargers[identity].version
        payload = clear_charging_profile(version, profile_id)
        try:
            await self._chargers.call(
                identity, "ClearChargingProfile", payload, self.config.loop.call_timeout_s
            )
        except ChargerCallFailed as exc:
            log.warning("%s: could not clear profile %d (%r)", identity, profile_id, exc)
            return False
        return True

    async def _send(
        self, identity: str, target: ProfileTarget, timeout_s: float | None = None
    ) -> Answer:
        """SetChargingProfile, waiting `timeout_s` (default: call_timeout_s) for the answer. A
        charger that implements no smart charging is unsteerable."""
        record = self.model.chargers[identity]
        capabilities = self.capabilities.get(identity, Capabilities())
        payload = set_charging_profile(
            record.version, target, capabilities.watts_only, self.config.nominal_voltage_v
        )
        started = self._clock()
        try:
            answer = await self._chargers.call(
                identity,
                "SetChargingProfile",
                payload,
                timeout_s or self.config.loop.call_timeout_s,
            )
        except ChargerCallRejected as exc:
            self.metrics.profiles.labels("error").inc()
            log.warning("%s: SetChargingProfile refused with %s", identity, exc.code)
            if exc.code in _UNSUPPORTED:
                self._unsteerable(identity)
            return Answer.ERROR
        except ChargerCallTimeout:
            self.metrics.profiles.labels("timeout").inc()
            return Answer.NONE
        except ChargerNotConnected:
            return Answer.NONE
        self.metrics.profile_seconds.observe(self._clock() - started)
        accepted = answer.get("status") == "Accepted"
        self.metrics.profiles.labels("accepted" if accepted else "rejected").inc()
        if not accepted:
            log.info("%s: SetChargingProfile answered %s", identity, answer)
        return Answer.ACCEPTED if accepted else Answer.REFUSED

    def _refused(self, identity: str, key: str | None) -> None:
        """A profile refused with no other way to limit the charger: planned at its maximum."""
        log.warning("%s refuses the LC's profiles: planned at its maximum", key or identity)
        if key is None:
            self._unsteerable(identity)  # its floor refused: it obeys nothing of ours
        else:
            self.disobedient.add(key)
            self.metrics.not_obeying.set(len(self.disobedient))

    def _check_obedience(self, now: float) -> None:
        """Flag EVSEs that draw clearly more than their limit after the reaction time."""
        loop = self.config.loop
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
                self.disobedient.add(key)
        self.metrics.not_obeying.set(len(self.disobedient))

    def _report(
        self, allocation: Allocation, reading: MeterReading | None, state: SiteState
    ) -> None:
        metrics = self.metrics
        period = self.config.loop.period_s
        for phase, cap in enumerate(self.config.phase_cap_a, start=1):
            metrics.cap.labels(f"L{phase}").set(cap)
        for phase, cap in enumerate(self.cap.phase_cap_a, start=1):
            metrics.effective_cap.labels(f"L{phase}").set(cap)
        for source in CapSource:
            metrics.cap_binding.labels(source.value).set(1 if self.cap.binding is source else 0)
        if reading is not None:
            for phase, current in enumerate(reading.currents, start=1):
                metrics.site_current.labels(f"L{phase}").set(current)
            if any(c > cap for c, cap in zip(reading.currents, self.cap.phase_cap_a, strict=True)):
                metrics.seconds_above_cap.inc(period)
        if allocation.headroom is not None:
            for phase, headroom in enumerate(allocation.headroom, start=1):
                metrics.headroom.labels(f"L{phase}").set(headroom)
        for panel in self.panel_loads:
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
        stale = state.meter_is_stale
        if stale and not self._stale:
            log.error(
                "site meter stale: sessions on their safe current, those the LC cannot limit "
                "planned at their maximum, the others cut or paused where that does not fit"
            )
        elif self._stale and not stale:
            log.info("site meter back: balancing again")
        self._stale = stale
        over_cap = allocation.over_cap_phases
        if over_cap and over_cap != self._over_cap:
            log.error(
                "site meter stale and the chargers the LC cannot limit may exceed the cap on "
                "their own on %s: nothing the LC does can keep the site within it",
                ", ".join(f"L{phase}" for phase in over_cap),
            )
        self._over_cap = over_cap
        metrics.meter_stale.set(1 if stale else 0)
        for mode in Mode:
            metrics.mode.labels(mode.value).set(1 if allocation.mode is mode else 0)
        self.unlimited = {
            evse.evse_id: evse.max_current
            for evse in state.evses
            if not evse.obeys and evse.session is not SessionState.IDLE
        }
        for key in self.model.evses:
            in_force = self.in_force.get(key)
            _show(metrics.evse_allocation, key, None if in_force is None else in_force.limit)
            _show(metrics.evse_unlimited, key, self.unlimited.get(key))
        for key, record in self.model.evses.items():
            if record.session is not SessionState.IDLE:
                for phase, amps in enumerate(record.measured, start=1):
                    if amps is not None:
                        metrics.evse_measured.labels(key, f"L{phase}").set(amps)

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

    def _site_cap(self) -> SiteCap:
        now = datetime.now(UTC)
        return site_cap(self.config.phase_cap_a, self.csms_limit_a(now), self.external_limit_a(now))

    async def stop(self) -> None:
        await self._tasks.stop()


def _show(gauge: Gauge, evse: str, value: float | None) -> None:
    """Set an EVSE's series, or remove it when there is nothing true to show."""
    if value is not None:
        gauge.labels(evse).set(value)
    else:
        with contextlib.suppress(KeyError):  # never shown
            gauge.remove(evse)
