"""The site as the router's observation events describe it: chargers, EVSEs, sessions,
measured currents and the limits the CSMS set. `snapshot` turns it into a `SiteState`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from balancer.config import BalancerConfig, ChargerSettings
from balancer.site import ChargerPhaseReadings, EvseState, MeterReading, SessionState
from router import events as ev
from router.frames import OcppVersion

# A session that draws more than this is charging, whatever its status said.
_DRAWING_A = 1.0
_NO_READINGS: ChargerPhaseReadings = (None, None, None)
# 1.6 connector status / 2.0.1 chargingState -> what the session needs. A session the EVSE
# suspended (usually the LC's own pause) is treated as about to start: it gets its minimum
# reserved and rises from there once it draws, instead of being filled while it draws nothing.
_SESSION_BY_STATE = {
    "Charging": SessionState.CHARGING,
    "SuspendedEV": SessionState.SUSPENDED_EV,
    "SuspendedEVSE": SessionState.STARTING,
}


@dataclass(slots=True)
class EvseRecord:
    identity: str
    evse_id: int
    transaction_id: str | None = None
    session: SessionState = SessionState.IDLE
    measured: ChargerPhaseReadings = _NO_READINGS
    measured_at: float | None = None
    suspended: bool = False  # the CSMS refused the session's id: no energy until it ends

    @property
    def key(self) -> str:
        return evse_key(self.identity, self.evse_id)


def evse_key(identity: str, evse_id: int) -> str:
    return f"{identity}/{evse_id}"


@dataclass(frozen=True, slots=True)
class CsmsProfile:
    """A charging profile the CSMS set on a charger, as far as the allocation needs it."""

    evse_id: int  # 0 = every EVSE of the charger
    purpose: str
    stack_level: int
    limit_a: float
    transaction_id: str | None  # a TxProfile ends with its transaction


@dataclass(slots=True)
class ChargerRecord:
    settings: ChargerSettings
    version: OcppVersion
    connected: bool = True
    csms_profiles: dict[int, CsmsProfile] = field(default_factory=dict)  # by profile id


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
            previous = self.chargers.get(event.identity)
            charger = self.chargers[event.identity] = ChargerRecord(settings, event.version)
            if previous is not None:  # the charger still enforces what the CSMS set before
                charger.csms_profiles = previous.csms_profiles
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
                self._drop_tx_profiles(record)
                record.transaction_id = None
                record.session = SessionState.IDLE
                record.measured, record.measured_at = _NO_READINGS, None
                record.suspended = False
        elif isinstance(event, ev.EnergySuspended):
            self._evse(event.identity, event.evse_id).suspended = True
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
        if record.transaction_id != event.transaction_id:
            record.suspended = False  # a new session
        record.transaction_id = event.transaction_id
        if record.session is SessionState.IDLE:
            record.session = SessionState.STARTING

    def _updated(self, event: ev.TransactionUpdated) -> None:
        record = self._by_transaction(event.identity, event.transaction_id, event.evse_id)
        if record is None:
            return
        record.transaction_id = event.transaction_id
        state = _SESSION_BY_STATE.get(event.charging_state or "")
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
        state = _SESSION_BY_STATE.get(event.status)
        if state is not None:
            record.session = state

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
        profiles = charger.csms_profiles
        if isinstance(event, ev.ChargingProfileCleared):
            for cleared in [i for i, p in profiles.items() if _cleared(i, p, event.criteria)]:
                del profiles[cleared]
            return
        profile = event.profile
        limit = profile_limit_a(profile, self.config.nominal_voltage_v)
        profile_id = profile.get("chargingProfileId", profile.get("id"))
        if limit is None or type(profile_id) is not int:
            return
        transaction = profile.get("transactionId")
        profiles[profile_id] = CsmsProfile(
            event.evse_id,
            str(profile.get("chargingProfilePurpose")),
            int(profile.get("stackLevel", 0)),
            limit,
            None if transaction is None else str(transaction),
        )

    def _drop_tx_profiles(self, record: EvseRecord) -> None:
        charger = self.chargers.get(record.identity)
        if charger is None:
            return
        ended = [
            profile_id
            for profile_id, profile in charger.csms_profiles.items()
            if profile.purpose == "TxProfile" and profile.evse_id in (0, record.evse_id)
        ]
        for profile_id in ended:
            del charger.csms_profiles[profile_id]

    # -- snapshot ----------------------------------------------------------------------------

    def csms_limit(self, record: EvseRecord) -> float | None:
        """The lowest limit any CSMS profile puts on this EVSE now."""
        charger = self.chargers.get(record.identity)
        if charger is None:
            return None
        found = [
            profile.limit_a
            for profile in charger.csms_profiles.values()
            if profile.evse_id in (0, record.evse_id)
            and (profile.transaction_id is None or profile.transaction_id == record.transaction_id)
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
                # It keeps its last limit until that lapses to its floor (the safe current).
                max_current = max(commanded[key], settings.min_current_a, settings.safe_current_a)
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
                    csms_limit=0.0 if record.suspended else self.csms_limit(record),
                    obeys=steerable,
                    charging_since=charging_since,
                    paused_since=paused_since,
                )
            )
        return tuple(states)


def _cleared(profile_id: int, profile: CsmsProfile, criteria: dict[str, Any]) -> bool:
    """Whether a ClearChargingProfile request (1.6 or 2.0.1 shape) removes this profile."""
    nested = criteria.get("chargingProfileCriteria")
    fields = {**criteria, **(nested if isinstance(nested, dict) else {})}
    checks = {
        "id": profile_id,
        "chargingProfileId": profile_id,
        "connectorId": profile.evse_id,
        "evseId": profile.evse_id,
        "chargingProfilePurpose": profile.purpose,
        "stackLevel": profile.stack_level,
    }
    return all(fields[name] == value for name, value in checks.items() if name in fields)


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
    currents: tuple[float | None, ...], voltages: tuple[float | None, ...] | None, taken_at: float
) -> MeterReading | None:
    """The allocator's view of one meter poll: no reading unless all three currents are there."""
    if any(current is None for current in currents):
        return None
    amps = tuple(abs(float(c)) for c in currents if c is not None)  # a fuse sees |I|
    volts = None
    known = [v for v in voltages or () if v is not None and v > 0]
    if len(known) == 3:
        volts = (known[0], known[1], known[2])
    return MeterReading(currents=(amps[0], amps[1], amps[2]), read_at=taken_at, voltages=volts)
