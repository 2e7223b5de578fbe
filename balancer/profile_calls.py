"""The balancer's calls to chargers (through router/chargers.py), each waiting a bounded time:
every call of the CSMS to a charger queues behind the LC's own. A call's failure becomes what
the balancer acts on: an `Answer`, a False, or nothing."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from balancer.metrics import BalancerMetrics
from balancer.model import charger_evses
from balancer.profiles import ProfileTarget, clear_charging_profile, set_charging_profile
from balancer.shared import BalancerState
from balancer.station_max import Answer
from router.chargers import (
    ChargerCallFailed,
    ChargerCallRejected,
    ChargerCallTimeout,
    ChargerNotConnected,
    Chargers,
)

log = logging.getLogger(__name__)

# CALLERROR codes that mean "this charger does not do smart charging".
_UNSUPPORTED = ("NotImplemented", "NotSupported")


class ProfileCalls:
    def __init__(
        self,
        chargers: Chargers,
        state: BalancerState,
        metrics: BalancerMetrics,
    ) -> None:
        self._chargers = chargers
        self._state = state
        self._metrics = metrics

    async def send(
        self, identity: str, target: ProfileTarget, timeout_s: float | None = None
    ) -> Answer:
        """SetChargingProfile, waiting `timeout_s` (default: call_timeout_s) for the answer. A
        charger that implements no smart charging is unsteerable."""
        state, config = self._state, self._state.config()
        record = state.model.chargers[identity]
        payload = set_charging_profile(
            record.version,
            target,
            state.standing.capabilities_of(identity).watts_only,
            config.nominal_voltage_v,
        )
        started = state.clock()
        try:
            answer = await self._chargers.call(
                identity, "SetChargingProfile", payload, timeout_s or config.loop.call_timeout_s
            )
        except ChargerCallRejected as exc:
            self._metrics.profiles.labels("error").inc()
            log.warning("%s: SetChargingProfile refused with %s", identity, exc.code)
            if exc.code in _UNSUPPORTED:
                state.standing.mark_disobedient(charger_evses(state.model, identity))
            return Answer.ERROR
        except ChargerCallTimeout:
            self._metrics.profiles.labels("timeout").inc()
            return Answer.NONE
        except ChargerNotConnected:
            return Answer.NONE
        self._metrics.profile_seconds.observe(state.clock() - started)
        accepted = answer.get("status") == "Accepted"
        self._metrics.profiles.labels("accepted" if accepted else "rejected").inc()
        if not accepted:
            log.info("%s: SetChargingProfile answered %s", identity, answer)
        return Answer.ACCEPTED if accepted else Answer.REFUSED

    async def clear(self, identity: str, profile_id: int) -> bool:
        """ClearChargingProfile; True when answered (Unknown: the profile was not there)."""
        version = self._state.model.chargers[identity].version
        payload = clear_charging_profile(version, profile_id)
        timeout = self._state.config().loop.call_timeout_s
        try:
            await self._chargers.call(identity, "ClearChargingProfile", payload, timeout)
        except ChargerCallFailed as exc:
            log.warning("%s: could not clear profile %d (%r)", identity, profile_id, exc)
            return False
        return True

    async def trigger(self, identity: str, payload: dict[str, Any]) -> None:
        """TriggerMessage; a charger that does not answer is asked again another time."""
        timeout = self._state.config().loop.setup_timeout_s
        with contextlib.suppress(ChargerCallFailed):
            await self._chargers.call(identity, "TriggerMessage", payload, timeout)
