"""A charger that never answers its dynamic limit holds up neither the other chargers' cuts nor
the CSMS's calls to itself for long: PyPI-`ocpp` charge points behind a running LC, a pymodbus
meter."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.v16 import call as call16

from tests.balancer.test_profiles_through_router import (  # noqa: F401 (fixture)
    Garage,
    latest_limit,
    make_garage,
)
from tests.peers import ChargePoint16, RunningChargePoint, connect_charge_point, now_iso, wait_until

# Periods (0.2 s each) within which the CSMS's call must be answered: a few short set-up
# timeouts (0.5 s), far below the call timeout (30 s, 150 periods).
PERIODS_FOR_THE_CSMS = 25


class IgnoresTxProfiles16(ChargePoint16):
    """A 1.6 charger that answers every call but its dynamic limit: a TxProfile is dropped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ignored: list[dict[str, Any]] = []

    async def route_message(self, raw_msg: str) -> None:
        message = json.loads(raw_msg)
        if message[0] == 2 and message[2] == "SetChargingProfile":
            profile = message[3]["csChargingProfiles"]
            if profile["chargingProfilePurpose"] == "TxProfile":
                self.ignored.append(profile)
                return
        await super().route_message(raw_msg)


async def charging(charger: RunningChargePoint, tag: str) -> None:
    await charger.cp.call(
        call16.StartTransaction(connector_id=1, id_tag=tag, meter_start=0, timestamp=now_iso())
    )
    await charger.cp.call(
        call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
    )


async def test_an_unanswered_limit_delays_neither_a_cut_elsewhere_nor_the_csms(
    make_garage: Callable[..., Awaitable[Garage]],  # noqa: F811
) -> None:
    garage = await make_garage(balancer={"call_timeout_s": 30, "setup_timeout_s": 0.5})
    balancer = garage.lc.balancer
    assert balancer is not None

    def periods() -> int:
        return len(balancer.history.samples())

    a = await connect_charge_point(garage.url, "CP-A", cp_class=IgnoresTxProfiles16)
    b = await connect_charge_point(garage.url, "CP-B")
    silent = a.cp
    assert isinstance(silent, IgnoresTxProfiles16)
    try:
        for charger in (a, b):
            await charger.cp.boot()
        await wait_until(
            lambda: latest_limit(a, "TxDefaultProfile") and latest_limit(b, "TxDefaultProfile"),
            what="both floors",
        )
        await charging(a, "T1")
        await charging(b, "T2")
        await wait_until(
            lambda: silent.ignored and latest_limit(b, "TxProfile"), what="first limits"
        )
        first = latest_limit(b, "TxProfile")
        assert first is not None

        # A lift starts: the site is above its cap, and both sessions must be cut at once.
        garage.meter.set_reading(currents=(40.0,) * 3, voltages=(230.0,) * 3)
        overloaded_at = periods()
        await wait_until(lambda: (latest_limit(b, "TxProfile") or first) < first, what="B's cut")
        assert periods() - overloaded_at <= 5  # the next period or so, not after A's timeout

        # The CSMS's call to the silent charger waits behind its unanswered limits, briefly.
        asked_at = periods()
        station = garage.csms.stations["CP-A"]
        answer = await station.call(call16.GetConfiguration(key=["HeartbeatInterval"]))
        assert answer.configuration_key
        assert periods() - asked_at <= PERIODS_FOR_THE_CSMS
    finally:
        await a.close()
        await b.close()
