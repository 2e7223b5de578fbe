"""Sending the dynamic limits the control loop decided, each as its own task without waiting
for the answer, so one slow charger never delays the others.

At most one limit is in flight to an EVSE: one decided meanwhile waits, in place of any older
(balancer/latest_waits.py), and goes out once the call in flight ended, however it ended. A
charger slow to answer so gets the newest limit next, not a queue of stale ones ahead of a cut.

A limit the charger refuses is not the end: a charger with one EVSE that refuses Tx profiles is
limited through its charger maximum instead (balancer/station_max.py walks the steps, this
makes the calls). One that refuses that too is planned at its maximum.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from balancer.floor import floor_stack_level, floor_target
from balancer.latest_waits import LatestWaits
from balancer.model import EvseRecord, charger_evses
from balancer.profile_calls import ProfileCalls
from balancer.profiles import ProfileTarget, as_station_max
from balancer.ramp import Commanded
from balancer.shared import BalancerState
from balancer.station_max import Answer, ClearProfile, StationMaxSwitch, Switched
from supervision.tasks import Tasks

log = logging.getLogger(__name__)


class LimitDispatch:
    def __init__(
        self,
        state: BalancerState,
        calls: ProfileCalls,
        tasks: Tasks,
        switched: Callable[[str], None],
    ) -> None:
        """`switched`: a charger now limited through its charger maximum, whose current limit
        is to be sent that way."""
        self._state = state
        self._calls = calls
        self._tasks = tasks
        self._switched = switched
        # Limits the charger accepted, and when: what is shown, and what obedience is judged by.
        self.in_force: dict[str, Commanded] = {}
        self._in_flight: LatestWaits[tuple[EvseRecord, float]] = LatestWaits()

    def dispatch(self, record: EvseRecord, limit: float) -> None:
        """Send `limit` to the EVSE, unless the charger cannot take it now; while a limit to the
        EVSE is in flight, it waits for that call to end (and whether the charger can take it
        is judged then)."""
        if self._in_flight.waits(record.key, (record, limit)):
            return
        charger = self._state.model.chargers[record.identity]
        standing = self._state.standing
        capabilities = standing.capabilities.get(record.identity)
        if (
            capabilities is None
            or not charger.connected
            or record.key in standing.disobedient
            or record.identity in standing.switching
        ):
            return  # not set up yet, gone, known to ignore profiles, or sent once switched
        loop = self._state.config().loop
        target = ProfileTarget(
            evse_id=record.evse_id,
            profile_id=loop.profile_id_base + record.evse_id,
            stack_level=floor_stack_level(loop, capabilities) + 1,
            limit_a=limit,
            phases=charger.settings.phases,
            transaction_id=record.transaction_id,
            duration_s=int(loop.profile_duration_s),
            start=datetime.now(UTC),
        )
        if record.identity in standing.station_max:
            target = as_station_max(target)
        self._in_flight.sending(record.key)
        self._tasks.spawn(self._send_then_next(record, target), "send-limit")

    async def _send_then_next(self, record: EvseRecord, target: ProfileTarget) -> None:
        try:
            await self.send_limit(record, target)
        finally:
            waiting = self._in_flight.ended(record.key)
            current = asyncio.current_task()
            # Accepted, refused, unanswered or failed: the limit that waited goes out now;
            # only when the balancer stops (this task cancelled) does nothing go out any more.
            if waiting is not None and not (current is not None and current.cancelling()):
                self.dispatch(*waiting)

    async def send_limit(self, record: EvseRecord, target: ProfileTarget) -> None:
        """Send a dynamic limit; a rejected TxProfile switches the charger to its maximum. It
        waits only `setup_timeout_s`: every call of the CSMS to this charger queues behind it,
        and the EVSE's next limit (perhaps a cut) waits for it."""
        model, transaction = self._state.model, record.transaction_id
        timeout = self._state.config().loop.setup_timeout_s
        answer = await self._calls.send(record.identity, target, timeout)
        if answer is Answer.ACCEPTED and model.evses.get(record.key) is record:
            self.in_force[record.key] = Commanded(target.limit_a, self._state.clock())
        if answer is not Answer.REFUSED:
            return
        if model.evses.get(record.key) is not record or record.transaction_id != transaction:
            return  # the session ended meanwhile: a profile for it is rightly refused
        if target.station_max or not await self.to_station_max(record.identity, clear_floor=True):
            self.refused(record.identity, record.key)

    async def to_station_max(self, identity: str, clear_floor: bool) -> bool:
        """Limit a charger with one EVSE that refuses Tx profiles through its charger maximum
        profile. True when it is (or is being) switched."""
        standing = self._state.standing
        if identity in standing.station_max or identity in standing.switching:
            return True
        settings = self._state.model.chargers[identity].settings
        if settings.evses != 1:
            return False
        capabilities = standing.capabilities_of(identity)
        floor = floor_target(self._state.config().loop, settings, capabilities, station_max=False)
        switch = StationMaxSwitch(floor, clear_floor)
        standing.switching.add(identity)
        try:
            step = switch.start()
            while not isinstance(step, Switched):
                if isinstance(step, ClearProfile):
                    step = switch.cleared(await self._calls.clear(identity, step.profile_id))
                else:
                    step = switch.sent(await self._calls.send(identity, step.target))
        finally:
            standing.switching.discard(identity)
        if not step.done:
            return False
        standing.limited_through_station_max(identity)
        log.warning("%s refuses Tx profiles: limited through its charger maximum", identity)
        self._switched(identity)
        return True

    def refused(self, identity: str, key: str | None) -> None:
        """A profile refused with no other way to limit the charger: planned at its maximum.
        `key`: the EVSE whose limit it was (None: the charger's floor)."""
        self._state.standing.refused(identity, key, charger_evses(self._state.model, identity))
