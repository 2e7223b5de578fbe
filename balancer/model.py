"""The site as the router's observation events describe it: chargers, EVSEs, sessions,
measured currents and the profiles the CSMS set. balancer/evse_plan.py turns it into the
allocator's view."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from balancer.config import BalancerConfig, ChargerSettings
from balancer.site import SessionState
from ocpp_knowledge.ocpp_time import utc_now
from ocpp_knowledge.profiles import (
    ChargingProfile,
    Purpose,
    cleared_by,
    profile_from_json,
)
from router import events as ev
from router.frames import OcppVersion

# Connector statuses (1.6; 2.0.1 "Occupied") that say a car is there, perhaps in a session.
_IN_USE = ("Charging", "SuspendedEV", "SuspendedEVSE", "Occupied")
# A session that draws more than this is charging, whatever its status said.
_DRAWING_A = 1.0
# Beside a phase that draws, one carrying no more than this is not used by the car.
_IDLE_A = 0.5
NO_READINGS: ev.ChargerPhaseReadings = (None, None, None)
# Authorized id tokens whose priority waits for their transaction, per charger: the oldest go.
_TOKENS_KEPT = 32
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
    measured: ev.ChargerPhaseReadings = NO_READINGS
    measured_at: float | None = None
    started_at: datetime | None = None  # wall-clock start, for profiles relative to it
    ended_transaction: str | None = None  # the last one that ended: a late reading of it is old
    status: str | None = None  # what the charger last said of it (1.6 / 2.0.1 connector status)
    status_at: float | None = None  # since when
    suspended: bool = False  # the CSMS refused the session's id: no energy until it ends
    csms_priority: int = 0  # the chargingPriority the CSMS gave this transaction; 0 unknown
    # The charger phases (1..3) its session was seen drawing on: one only is a 1-phase car.
    drawn_phases: frozenset[int] = frozenset()

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
    csms_profiles: dict[int, ChargingProfile] = field(default_factory=dict)  # by profile id
    # 1.6 sessions started while the CSMS was away: the CSMS's transaction id -> the
    # provisional id the charger (and so this model) knows the session by.
    provisional_ids: dict[str, str] = field(default_factory=dict)
    # chargingPriority of id tokens the CSMS authorized, for the transaction each starts next.
    token_priorities: dict[str, int] = field(default_factory=dict)


class SiteModel:
    def __init__(
        self, config: BalancerConfig, clock: Any, wall_clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.config = config
        self._clock = clock
        self.wall_clock = wall_clock
        self.chargers: dict[str, ChargerRecord] = {}
        self.evses: dict[str, EvseRecord] = {}

    def reconfigure(self, config: BalancerConfig) -> None:
        """A reloaded config. Connected chargers move to the panel it names (a panel may be
        gone, and a fuse must never be planned for a charger that is no longer behind it);
        their other settings apply when they reconnect."""
        self.config = config
        for identity, charger in self.chargers.items():
            placed = config.charger(identity)
            charger.settings = replace(
                charger.settings, panel=placed.panel, phase_rotation=placed.phase_rotation
            )

    # -- events ------------------------------------------------------------------------------

    def handle(self, event: ev.Event) -> None:
        if self.config.behind_local_controller(event.identity):
            return  # the LC in front of it balances it; its load is in that LC's readings
        if isinstance(event, ev.ChargerConnected):
            settings = self.config.charger(event.identity)
            previous = self.chargers.get(event.identity)
            charger = self.chargers[event.identity] = ChargerRecord(settings, event.version)
            if previous is not None:  # the charger still enforces what the CSMS set before
                charger.csms_profiles = previous.csms_profiles
                charger.provisional_ids = previous.provisional_ids
            for evse_id in range(1, settings.evses + 1):
                self._evse(event.identity, evse_id)
            if settings.local_controller:
                # Its site draws whatever its chargers do, all the time: one session for ever.
                self._evse(event.identity, 1).session = SessionState.CHARGING
        elif isinstance(event, ev.ChargerDisconnected):
            if event.identity in self.chargers:
                self.chargers[event.identity].connected = False
        elif isinstance(event, ev.TransactionStarted):
            self._started(event)
        elif isinstance(event, ev.TransactionUpdated):
            self._updated(event)
        elif isinstance(event, ev.TransactionPrioritised):
            record = self._by_transaction(event.identity, event.transaction_id, event.evse_id)
            if record is not None:
                self._adopt(record, event.transaction_id)
                record.csms_priority = event.priority
        elif isinstance(event, ev.IdTokenPrioritised) and event.identity in self.chargers:
            tokens = self.chargers[event.identity].token_priorities
            tokens.pop(event.id_token, None)
            tokens[event.id_token] = event.priority
            if len(tokens) > _TOKENS_KEPT:
                del tokens[next(iter(tokens))]
        elif isinstance(event, ev.TransactionEnded):
            record = self._by_transaction(event.identity, event.transaction_id, event.evse_id)
            if record is not None:
                self._drop_tx_profiles(record)
                record.ended_transaction, record.transaction_id = record.transaction_id, None
                record.session = SessionState.IDLE
                record.measured, record.measured_at = NO_READINGS, None
                record.started_at = None
                record.suspended = False
                record.drawn_phases = frozenset()
                record.csms_priority = 0
        elif isinstance(event, ev.EnergySuspended):
            self._evse(event.identity, event.evse_id).suspended = True
        elif isinstance(event, ev.StatusChanged):
            self._status(event)
        elif isinstance(event, ev.MeterSampled):
            self._sampled(event)
        elif isinstance(event, ev.ChargingProfileSet | ev.ChargingProfileCleared):
            self._csms_profile(event)
        elif isinstance(event, ev.TransactionIdMapped) and event.identity in self.chargers:
            provisional_ids = self.chargers[event.identity].provisional_ids
            provisional_ids[event.csms_transaction_id] = event.provisional_transaction_id

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
        return self._only_evse(identity)

    def knows(self, identity: str, transaction_id: str) -> bool:
        return any(
            record.identity == identity and record.transaction_id == transaction_id
            for record in self.evses.values()
        )

    def unknown_sessions(self, identity: str, now: float, after_s: float) -> list[EvseRecord]:
        """EVSEs whose status has said for `after_s` that a car is there, without a session the
        LC saw start (it ran before an LC restart): the charger can be asked for it."""
        return [
            record
            for record in self.evses.values()
            if record.identity == identity
            and record.transaction_id is None
            and record.status in _IN_USE
            and record.status_at is not None
            and now - record.status_at >= after_s
        ]

    def _only_evse(self, identity: str) -> EvseRecord | None:
        """A charger's one EVSE, where a 2.0.1 message without `evse` can only mean it."""
        charger = self.chargers.get(identity)
        if charger is None or charger.settings.evses != 1:
            return None
        return self._evse(identity, 1)

    def _adopt(self, record: EvseRecord, transaction_id: str) -> None:
        """A session the LC did not see start (it ran before an LC restart): take it back."""
        if record.transaction_id != transaction_id:
            record.suspended = False
            record.drawn_phases = frozenset()
            record.csms_priority = 0
            record.started_at = self.wall_clock()
            record.transaction_id = transaction_id
        if record.session is SessionState.IDLE:
            record.session = SessionState.STARTING

    def _started(self, event: ev.TransactionStarted) -> None:
        if not event.evse_id:
            return
        record = self._evse(event.identity, event.evse_id)
        self._adopt(record, event.transaction_id)
        charger = self.chargers.get(event.identity)
        if charger is not None and event.id_token in charger.token_priorities:
            record.csms_priority = charger.token_priorities.pop(event.id_token)

    def _updated(self, event: ev.TransactionUpdated) -> None:
        record = self._by_transaction(event.identity, event.transaction_id, event.evse_id)
        if record is None:
            return
        self._adopt(record, event.transaction_id)
        state = _SESSION_BY_STATE.get(event.charging_state or "")
        if state is not None:
            record.session = state

    def _status(self, event: ev.StatusChanged) -> None:
        if event.evse_id == 0:
            return
        record = self._evse(event.identity, event.evse_id)
        if record.status != event.status:
            record.status, record.status_at = event.status, self._clock()
        if record.transaction_id is None:
            return  # 1.6 reports Charging etc. per connector; only sessions matter here
        state = _SESSION_BY_STATE.get(event.status)
        if state is not None:
            record.session = state

    def _sampled(self, event: ev.MeterSampled) -> None:
        if all(current is None for current in event.current_a):
            return
        if event.evse_id == 0 and self.is_local_controller(event.identity):
            # Another LC's site meter on its EVSE 0: the demand of its one EVSE here.
            self._evse(event.identity, 1).measured = event.current_a
            self._evse(event.identity, 1).measured_at = self._clock()
            return
        if event.evse_id == 0:
            return  # the whole charger's meter
        if event.evse_id:
            record: EvseRecord | None = self._evse(event.identity, event.evse_id)
        elif event.transaction_id is not None:
            record = self._by_transaction(event.identity, event.transaction_id, None)
        else:
            return
        if record is None:
            return  # 2.0.1 without `evse`, of a session the LC never saw on a multi-EVSE charger
        if event.transaction_id is not None:
            if event.transaction_id == record.ended_transaction:
                return  # a late reading of a session that ended
            self._adopt(record, event.transaction_id)  # 1.6 MeterValues name their transaction
        record.measured, record.measured_at = event.current_a, self._clock()
        record.drawn_phases |= phases_drawn(event.current_a)
        drawing = max((c for c in event.current_a if c is not None), default=0.0) > _DRAWING_A
        if drawing and record.transaction_id is not None:
            record.session = SessionState.CHARGING

    def _csms_profile(self, event: ev.ChargingProfileSet | ev.ChargingProfileCleared) -> None:
        charger = self.chargers.get(event.identity)
        if charger is None or not event.accepted:
            return
        profiles = charger.csms_profiles
        if isinstance(event, ev.ChargingProfileCleared):
            for cleared in [i for i, p in profiles.items() if cleared_by(p, event.criteria)]:
                del profiles[cleared]
            return
        v16 = charger.version is OcppVersion.V16
        try:
            profile = profile_from_json(event.evse_id, event.profile, v16)
        except (KeyError, ValueError, TypeError):
            return  # nothing the rules can read: the charger cannot apply it either
        if profile.transaction_id is not None:
            named = str(profile.transaction_id)
            profile = replace(profile, transaction_id=charger.provisional_ids.get(named, named))
        profiles[profile.profile_id] = profile

    def _drop_tx_profiles(self, record: EvseRecord) -> None:
        charger = self.chargers.get(record.identity)
        if charger is None:
            return
        ended = [
            profile_id
            for profile_id, profile in charger.csms_profiles.items()
            if profile.purpose is Purpose.TX and profile.connector_id in (0, record.evse_id)
        ]
        for profile_id in ended:
            del charger.csms_profiles[profile_id]

    def is_local_controller(self, identity: str) -> bool:
        charger = self.chargers.get(identity)
        return charger is not None and charger.settings.local_controller


def phases_drawn(measured: ev.ChargerPhaseReadings) -> frozenset[int]:
    """The charger phases (1..3) a reading shows the car drawing on. Empty unless it reports all
    three and a car draws: one phase alone is a 1-phase car only when the others are known idle.
    """
    known = [abs(current) for current in measured if current is not None]
    if len(known) != 3 or max(known) <= _DRAWING_A:
        return frozenset()
    return frozenset(phase for phase, current in enumerate(known, start=1) if current > _IDLE_A)


def charger_evses(model: SiteModel, identity: str) -> list[str]:
    """The keys of a charger's EVSEs in the model."""
    return [key for key, record in model.evses.items() if record.identity == identity]
