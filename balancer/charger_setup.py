"""Setting a charger up once it can answer (its boot accepted, or its first call after a
reconnect; balancer/setup.py says when): its smart-charging capabilities are read and its floor
installed (balancer/floor.py), as its charger maximum if it refuses a TxDefaultProfile. A floor
the CSMS removes is installed again.

Sessions that ran before an LC restart are asked for here too, once the charger is set up.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from balancer.floor import floor_removed_by, floor_target
from balancer.limit_dispatch import LimitDispatch
from balancer.model import charger_evses
from balancer.profile_calls import ProfileCalls
from balancer.profiles import (
    Capabilities,
    ProfileTarget,
    capability_query,
    parse_capabilities,
    session_query,
)
from balancer.setup import Attempt, SetUps, Stage
from balancer.shared import BalancerState
from balancer.station_max import Answer
from router import events as ev
from router.chargers import (
    ChargerCallRejected,
    ChargerCallTimeout,
    ChargerNotConnected,
    Chargers,
)
from supervision.tasks import Tasks

log = logging.getLogger(__name__)


class ChargerSetUp:
    def __init__(
        self,
        state: BalancerState,
        set_ups: SetUps,
        chargers: Chargers,
        calls: ProfileCalls,
        limits: LimitDispatch,
        tasks: Tasks,
    ) -> None:
        self._state = state
        self._set_ups = set_ups
        self._chargers = chargers
        self._calls = calls
        self._limits = limits
        self._tasks = tasks
        self._asked: set[str] = set()  # EVSEs whose unknown session the charger was asked for

    def connected(self, identity: str) -> None:
        """A charger's new connection: set up again, and its sessions asked for again."""
        self._state.standing.capabilities.pop(identity, None)
        self._set_ups.connected(identity)
        self._asked -= {key for key in self._asked if key.startswith(f"{identity}/")}

    def start_due(self) -> None:
        """Start the set-ups that are due (a retry waits `setup_retry_s`)."""
        for attempt in self._set_ups.due(self._state.clock()):
            self._tasks.spawn(self._set_up(attempt), "charger-set-up")

    def floor_removed(self, event: ev.ChargingProfileSet | ev.ChargingProfileCleared) -> bool:
        """Whether a CSMS call the charger accepted removed the LC's floor; if so, the charger
        is set up again."""
        identity = event.identity
        charger = self._state.model.chargers.get(identity)
        if not event.accepted or charger is None or self._set_ups.stage(identity) is not Stage.DONE:
            return False  # a set-up still to come installs the floor anyway
        floor = self.floor(identity)
        capabilities = self._state.standing.capabilities_of(identity)
        voltage = self._state.config().nominal_voltage_v
        if not floor_removed_by(event, charger.version, floor, capabilities, voltage):
            return False
        log.warning("%s: the CSMS removed the LC's floor: installing it again", identity)
        self._set_ups.redo(identity)
        return True

    def floor(self, identity: str) -> ProfileTarget:
        """The charger's floor, as its charger maximum if it is limited that way."""
        return floor_target(
            self._state.config().loop,
            self._state.model.chargers[identity].settings,
            self._state.standing.capabilities_of(identity),
            station_max=identity in self._state.standing.station_max,
        )

    def ask_for_sessions(self, identity: str) -> None:
        """Sessions that ran before an LC restart are taken back at their next meter values;
        a TriggerMessage makes that next one come now. Asked once per EVSE and connection, for
        a car its charger has reported for a reaction time without a session the LC saw start
        (a session starting now is reported within that)."""
        if self._set_ups.stage(identity) is not Stage.DONE:
            return  # it may not answer yet: asked once set up
        version = self._state.model.chargers[identity].version
        waited = self._state.config().loop.reaction_time_s
        for record in self._state.model.unknown_sessions(identity, self._state.clock(), waited):
            if record.key not in self._asked:
                self._asked.add(record.key)
                payload = session_query(version, record.evse_id)
                self._tasks.spawn(self._calls.trigger(identity, payload), "ask-for-session")

    def place_answer(self, event: ev.TransactionUpdated) -> None:
        """A 2.0.1 event without `evse` for a session the LC does not know, on a charger with
        several EVSEs: the answer to the LC's TriggerMessage when it asked one EVSE only."""
        if self._state.model.knows(event.identity, event.transaction_id):
            return
        unknown = self._state.model.unknown_sessions(event.identity, self._state.clock(), 0.0)
        asked = [record for record in unknown if record.key in self._asked]
        if len(asked) == 1:
            self._state.model.handle(replace(event, evse_id=asked[0].evse_id))

    async def _set_up(self, attempt: Attempt) -> None:
        done = False
        try:
            done = await self._set_up_charger(attempt.identity)
        finally:
            self._set_ups.finished(attempt, done, self._state.clock())
            if not done:
                log.info("%s: set-up unanswered; tried again later", attempt.identity)

    async def _set_up_charger(self, identity: str) -> bool:
        """Read the charger's smart-charging capabilities, then install its floor profile (as
        its charger maximum if it rejects a TxDefaultProfile). False when the charger did not
        answer in time: set-up calls wait only `setup_timeout_s`, as every call of the CSMS to
        this charger queues behind them."""
        record = self._state.model.chargers[identity]
        action, payload = capability_query(record.version)
        timeout = self._state.config().loop.setup_timeout_s
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
            self._state.standing.mark_disobedient(charger_evses(self._state.model, identity))
        self._state.standing.capabilities[identity] = capabilities
        floor = self.floor(identity)
        floor_answer = await self._calls.send(identity, floor, timeout)
        if floor_answer is Answer.NONE:
            return False
        if floor_answer is Answer.REFUSED and (
            floor.station_max or not await self._limits.to_station_max(identity, clear_floor=False)
        ):
            self._limits.refused(identity, None)
        return True
