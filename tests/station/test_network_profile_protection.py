"""A CSMS's SetNetworkProfile to a charger could point it away from the LC, out of load
control: the LC counts it, keeps it in its security log and shows it; with
`[router] protect_network_profiles = true` it answers Rejected instead of relaying it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from lc.security import NETWORK_PROFILE_EVENT
from lc.status_page import render
from tests.conftest import lc_url
from tests.peers import ChargePoint201, connect_charge_point, on, wait_until
from tests.station.csms_for_lc import CsmsForLc, accepted_lc, station_config

pytestmark = pytest.mark.timeout(60)

AWAY = {
    "ocpp_version": "OCPP20",
    "ocpp_transport": "JSON",
    "ocpp_csms_url": "wss://csms.elsewhere.example/ocpp",
    "message_timeout": 30,
    "security_profile": 2,
    "ocpp_interface": "Wired0",
}


class ObligingCharger(ChargePoint201):
    """Takes any network profile it is sent."""

    @on("SetNetworkProfile")
    def on_set_network_profile(self, **profile: Any) -> result201.SetNetworkProfile:
        self.handled.append("SetNetworkProfile")
        return result201.SetNetworkProfile(status="Accepted")


@pytest.mark.parametrize(("protect", "answered"), [(False, "Accepted"), (True, "Rejected")])
async def test_set_network_profile_to_a_charger_is_recorded_and_relayed_unless_protected(
    csms: CsmsForLc, tmp_path: Path, protect: bool, answered: str
) -> None:
    config = station_config(csms, tmp_path)
    config["router"]["protect_network_profiles"] = protect
    async with accepted_lc(config) as (lc, _link):
        charger = await connect_charge_point(
            lc_url(lc.router), "CP-7", "ocpp2.0.1", cp_class=ObligingCharger
        )
        try:
            assert (await charger.cp.boot()).status == "Accepted"
            request = call201.SetNetworkProfile(configuration_slot=2, connection_data=AWAY)
            answer = await csms.connected("CP-7").call(request)
            assert answer.status == answered
            outcome = "rejected" if protect else "relayed"
            assert charger.cp.handled.count("SetNetworkProfile") == (0 if protect else 1)
            await wait_until(
                lambda: NETWORK_PROFILE_EVENT in [e.type for e in lc.security.events.log.events],
                10,
                "the security event",
            )
            event = lc.security.events.log.events[-1]
            assert event.tech_info == (
                f"CP-7: the CSMS sent SetNetworkProfile for slot 2, {outcome} by the LC"
            )
            assert lc.security.network_profile_counts == {
                "relayed": int(not protect),
                "rejected": int(protect),
            }
            page = render(await lc.status())
            assert f"{int(not protect)} relayed, {int(protect)} rejected by the LC" in page
            # The charger stays connected and relayed as before.
            heartbeat = await charger.cp.call(call201.Heartbeat())
            assert heartbeat.current_time
        finally:
            await charger.close()
