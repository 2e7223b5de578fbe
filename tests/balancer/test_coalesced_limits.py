"""A charger slow to answer its dynamic limits gets only the latest of those decided meanwhile,
not every one of them queued: PyPI-`ocpp` charge point behind a running LC, a pymodbus meter."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from balancer.model import evse_key
from tests.balancer.test_profiles_through_router import (  # noqa: F401 (fixture)
    Garage,
    latest_limit,
    make_garage,
)
from tests.balancer.test_unanswered_limits import charging
from tests.peers import ChargePoint16, connect_charge_point, wait_until

# Cap 32 A less the 1 A margin: a site reading above it is an overload, cut every period by the
# excess; at it, the charger's limit holds (the rest of the reading is base load).
OVERLOADED = (32.0,) * 3
AT_THE_CAP = (31.0,) * 3
CUTS = 5


class HoldsTxProfiles16(ChargePoint16):
    """A 1.6 charger that answers its dynamic limits only once `answering` is set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answering = asyncio.Event()
        self.received: list[float] = []  # every TxProfile's limit, answered or not yet
        self._held: list[asyncio.Task[None]] = []

    async def route_message(self, raw_msg: str) -> None:
        message = json.loads(raw_msg)
        if message[0] == 2 and message[2] == "SetChargingProfile":
            profile = message[3]["csChargingProfiles"]
            if profile["chargingProfilePurpose"] == "TxProfile":
                period = profile["chargingSchedule"]["chargingSchedulePeriod"][0]
                self.received.append(float(period["limit"]))
                # Held aside, so that the charger's other traffic goes on meanwhile.
                self._held.append(asyncio.create_task(self._answer_later(raw_msg)))
                return
        await super().route_message(raw_msg)

    async def _answer_later(self, raw_msg: str) -> None:
        await self.answering.wait()
        await super().route_message(raw_msg)

    async def stop_holding(self) -> None:
        for held in self._held:
            held.cancel()
        await asyncio.gather(*self._held, return_exceptions=True)


async def test_a_slow_charger_gets_only_the_latest_of_the_limits_decided_meanwhile(
    make_garage: Callable[..., Awaitable[Garage]],  # noqa: F811
) -> None:
    # The LC waits long for each answer: the limits decided meanwhile pile up, unless coalesced.
    garage = await make_garage(
        balancer={"call_timeout_s": 30, "setup_timeout_s": 20, "refresh_s": 25}
    )
    balancer = garage.lc.balancer
    assert balancer is not None
    key = evse_key("CP-A", 1)
    a = await connect_charge_point(garage.url, "CP-A", cp_class=HoldsTxProfiles16)
    slow = a.cp
    assert isinstance(slow, HoldsTxProfiles16)
    try:
        await slow.boot()
        await wait_until(lambda: latest_limit(a, "TxDefaultProfile"), what="the floor")
        await charging(a, "T1")
        await wait_until(lambda: slow.received, what="the first limit")

        first = slow.received[0]
        garage.meter.set_reading(currents=OVERLOADED, voltages=(230.0,) * 3)
        await wait_until(
            lambda: balancer.commanded[key].limit <= first - CUTS, what=f"{CUTS} cuts meanwhile"
        )
        garage.meter.set_reading(currents=AT_THE_CAP, voltages=(230.0,) * 3)
        await wait_until(
            lambda: balancer.history.samples()[-1].currents == AT_THE_CAP, what="a steady limit"
        )
        latest = balancer.commanded[key].limit

        slow.answering.set()
        await wait_until(
            lambda: (
                latest_limit(a, "TxProfile") == latest
                and key in balancer.in_force
                and balancer.in_force[key].limit == latest
            ),
            what="the latest limit in force",
        )
        # The one in flight when the limits changed, then only the latest of those.
        assert slow.received == [first, latest]
    finally:
        await slow.stop_holding()
        await a.close()
