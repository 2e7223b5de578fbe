"""The site as the router's observation events describe it: chargers, EVSEs, sessions,
measured currents and the limits the CSMS set. `snapshot` turns it into a `SiteState`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from balancer.config import BalancerConfig, ChargerSettings
from balancer.site import ChargerPhaseReadings, EvseState, MeterReading, SessionState
from router import events as ev
from router.frames import OcppVersion

# A session that draws more than this is charging, whatever its status said.
_DRAWING_A = 1.0
_NO_READINGS: ChargerPhaseReadings = (None, None, None)


@dataclass(slots=True)
class EvseRecord:
    identity: str
    evse_id: int
    transaction_id: str | None = None
    session: SessionState = SessionState.IDLE
    measured: ChargerPhaseReadings = _NO_READINGS
    measured_at: float | None = None

    @property
    def key(self) -> str:
        return evse_key(self.identity, self.evse_id)


def evse_key(identity: str, evse_id: int) -> str:
    return f"{identity}/{evse_id}"


@dataclass(slots=True)
class ChargerRecord:
    settings: ChargerSettings
    version: OcppVersion
    connected: bool = True
    # profile id -> limit in A, for the CSMS's profiles per EVSE id (0 = the whole charger)
    csms_limits: dict[int, dict[int, float]] | None = None


class SiteModel:
    def __init__(self, config: BalancerConfig, clock: Any) -> None:
        self.config = config
        self._clock = clock
        self.chargers: dict[str, ChargerRecord] = {}
        self.evses: dict[str, EvseRecord] = {}

    # -- events ------------------------------------------------------------------------------

    def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.ChargerConnected):
            settings = self.config.charger(event.identity)
            self.chargers[event.identity] = ChargerRecord(settings, event.version)
            for evse_id in range(1, settings.evses + 1):
                self._evse(event.identity, evse_id)
        elif isinstance(event, ev.ChargerDisconnected):
            if event.identity in self.chargers:
                self.chargers[event.identity].connected = False
        elif isinstance(event, ev.TransactionStarted):
            self._started(event)
        elif isinstance(event, ev.TransactionUpdated):
            self._updated(event)
        elif isinstance(event, ev.TransactionEnded):
            record = self._by_transaction(event.identity, event.transaction_id, event.evse_id)
            if record is not None:
                record.transaction_id = None
                record.session = SessionState.IDLE
                record.measured, record.measured_at = _NO_READINGS, None
        elif isinstance(event, ev.StatusChanged):
            self._status(event)
        elif isinstance(event, ev.MeterSampled):
            self._sampled(event)
        elif isinstance(event, ev.ChargingProfileSet | ev.ChargingProfileCleared):
            self._csms_profile(event)

    def _evse(self, identity: str, evse_id: int) -> EvseRecord:
        key = evse_key(identity, evse_id)
        record = self.evses.get(key)
        if record is None:
            record = self.evses[key] = EvseRecord(identity, evse_id)
        return record

    def _by_transaction(
        self, identity: str, transaction_id: str, evse_id: int | None
    ) -> EvseRecord | None:
        if evse_id:
            return self._evse(identity, evse_id)
        for record in self.evses.values():
            if record.identity == identity and record.transaction_id == transaction_id:
                return record
        return None

    def _started(self, event: ev.TransactionStarted) -> None:
        if not event.evse_id:
            return
        record = self._evse(event.identity, event.evse_id)
        record.transaction_id = event.transaction_id
        if record.session is SessionState.IDLE:
            record.session = SessionState.STARTING

    def _updated(self, event: ev.TransactionUpdated) -> None:
        record = self._by_transaction(event.identity, event.transaction_id, event.evse_id)
        if record is None:
            return
        record.transaction_id = event.transaction_id
        state = {
            "Charging": SessionState.CHARGING,
            "SuspendedEV": SessionState.SUSPENDED_EV,
        }.get(event.charging_state or "")
        if state is not None:
            record.session = state
        elif record.session is SessionState.IDLE:
            record.session = SessionState.STARTING

    def _status(self, event: ev.StatusChanged) -> None:
        if event.evse_id == 0:
            return
        record = self._evse(event.identity, event.evse_id)
        if record.transaction_id is None:
            return  # 1.6 reports Charging etc. per connector; only sessions matter here
        if event.status == "Charging":
            record.session = SessionState.CHARGING
        elif event.status == "SuspendedEV":
            record.session = SessionState.SUSPENDED_EV

    def _sampled(self, event: ev.MeterSampled) -> None:
        if not event.evse_id or all(current is None for current in event.current_a):
            return  # the whole charger's meter, or a transaction the LC never saw start
        record = self._evse(event.identity, event.evse_id)
        record.measured, record.measured_at = event.current_a, self._clock()
        drawing = max((c for c in event.current_a if c is not None), default=0.0) > _DRAWING_A
        if drawing and record.transaction_id is not None:
            record.session = SessionState.CHARGING

    def _csms_profile(self, event: ev.ChargingProfileSet | ev.ChargingProfileCleared) -> None:
        charger = self.chargers.get(event.identity)
        if charger is None or not event.accepted:
            return
        limits = charger.csms_limits = charger.csms_limits or {}
        if isinstance(event, ev.ChargingProfileCleared):
            profile_id = event.criteria.get("id", event.criteria.get("chargingProfileId"))
            for by_id in limits.values():
                if profile_id is None:
                    by_id.clear()
                else:
                    by_id.pop(profile_id, None)
            return
        limit = profile_limit_a(event.profile, self.config.nominal_voltage_v)
        profile_id = event.profile.get("chargingProfileId", event.profile.get("id"))
        if limit is not None and isinstance(profile_id, int):
            limits.setdefault(event.evse_id, {})[profile_id] = limit

    # -- snapshot ----------------------------------------------------------------------------

    def csms_limit(self, record: EvseRecord) -> float | None:
        charger = self.chargers.get(record.identity)
        if charger is None or not charger.csms_limits:
            return None
        found = [
            limit
            for evse_id in (0, record.evse_id)
            for limit in charger.csms_limits.get(evse_id, {}).values()
        ]
        return min(found, default=None)

    def evse_states(
        self,
        now: float,
        commanded: dict[str, float],
        disobedient: set[str],
        turns: dict[str, tuple[float | None, float | None]],
    ) -> tuple[EvseState, ...]:
        """Every EVSE as the allocator must plan it now.

        An EVSE the LC cannot steer (charger gone, or seen ignoring its limit) is planned at
        what it may draw: its last limit, else its maximum.
        """
        states = []
        max_age = self.config.loop.measurement_max_age_s
        for key, record in sorted(self.evses.items()):
            charger = self.chargers.get(record.identity)
            if charger is None:
                continue
            settings = charger.settings
            fresh = record.measured_at is not None and now - record.measured_at <= max_age
            steerable = charger.connected and key not in disobedient
            charging_since, paused_since = turns.get(key, (None, None))
            max_current = settings.max_current_a
            if not charger.connected and key in commanded:
                max_current = max(commanded[key], settings.min_current_a)
            states.append(
                EvseState(
                    evse_id=key,
                    max_current=max_current,
                    safe_current=settings.safe_current_a,
                    min_current=settings.min_current_a,
                    phase_map=settings.phase_rotation,
                    phases_in_use=settings.phases,
                    priority=settings.priority,
                    session=record.session,
                    measured=record.measured if fresh else _NO_READINGS,
                    allocated=commanded.get(key, 0.0),
                    csms_limit=self.csms_limit(record),
                    obeys=steerable,
                    charging_since=charging_since,
                    paused_since=paused_since,
                )
            )
        return tuple(states)


def profile_limit_a(profile: dict[str, Any], voltage: float) -> float | None:
    """The lowest limit in a charging profile, in A per phase (W converted at `voltage`)."""
    schedules = profile.get("chargingSchedule")
    schedule_list = schedules if isinstance(schedules, list) else [schedules]
    limits: list[float] = []
    for schedule in schedule_list:
        if not isinstance(schedule, dict):
            continue
        watts = schedule.get("chargingRateUnit") == "W"
        for period in schedule.get("chargingSchedulePeriod", []):
            limit = float(period.get("limit", 0))
            phases = int(period.get("numberPhases", 3))
            limits.append(limit / (voltage * phases) if watts else limit)
    return min(limits, default=None)


def site_reading(
    currents: tuple[float | None, ...], voltages: Any, taken_at: float
) -> MeterReading | None:
    """The allocator's view of one meter poll: no reading unless all three currents are there."""
    if any(current is None for current in currents):
        return None
    amps = tuple(abs(float(c)) for c in currents if c is not None)  # a fuse sees |I|
    volts = None
    if voltages is not None and all(v is not None and v > 0 for v in voltages):
        volts = (float(voltages[0]), float(voltages[1]), float(voltages[2]))
    return MeterReading(currents=(amps[0], amps[1], amps[2]), read_at=taken_at, voltages=volts)
