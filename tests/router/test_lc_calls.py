"""The LC's own calls (§6.4): queued behind CSMS calls, answers consumed, late answers dropped."""

from __future__ import annotations

import asyncio
import json

import pytest
from ocpp.v16 import call as call16

from router.chargers import ChargerCallRejected, ChargerCallTimeout, ChargerNotConnected
from tests.conftest import RouterFactory, lc_url
from tests.peers import Csms, connect_charge_point, now_iso, wait_until

LC_PROFILE_16 = {
    "connectorId": 1,
    "csChargingProfiles": {
        "chargingProfileId": 9001,
        "stackLevel": 5,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": "2026-11-25T10:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0, "numberPhases": 3}],
        },
    },
}


def _ids(frames: list[str]) -> set[str]:
    return {json.loads(frame)[1] for frame in frames}


async def test_lc_call_waits_for_the_csms_call_and_its_answer_never_reaches_the_csms(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url)
    charger = await connect_charge_point(lc_url(router), "CP-Q", "ocpp1.6", answer_delay_s=0.4)
    try:
        await charger.cp.boot()
        station = csms.stations["CP-Q"]
        csms_call = asyncio.create_task(station.call(call16.GetConfiguration()))
        await wait_until(lambda: charger.cp.handled == ["GetConfiguration"], what="CSMS call")
        lc_answer = await router.call("CP-Q", "SetChargingProfile", LC_PROFILE_16)
        assert lc_answer == {"status": "Accepted"}
        assert (await csms_call).configuration_key

        # The charger saw the LC call only after it had answered the CSMS call.
        log = charger.recorder.log
        directions_and_actions = [
            (direction, json.loads(frame)[2] if json.loads(frame)[0] == 2 else "answer")
            for direction, frame in log
            if direction == "in" or json.loads(frame)[0] != 2
        ]
        assert directions_and_actions[-4:] == [
            ("in", "GetConfiguration"),
            ("out", "answer"),
            ("in", "SetChargingProfile"),
            ("out", "answer"),
        ]
        lc_id = json.loads(charger.recorder.received[-1])[1]
        assert len(lc_id) == 36  # a UUID: never collides with the CSMS's ids
        csms_side = csms.connections["CP-Q"]
        assert lc_id not in _ids(csms_side.received) | _ids(csms_side.sent)
        assert charger.cp.profiles[0]["cs_charging_profiles"]["charging_profile_id"] == 9001
        assert router.metrics.lc_calls.labels("SetChargingProfile", "result")._value.get() == 1
        # LC profiles are the LC's business, not a CSMS limit: nothing observed as one.
        assert not [e for e in router.observed if type(e).__name__ == "ChargingProfileSet"]
    finally:
        await charger.close()


async def test_late_answer_to_a_timed_out_lc_call_is_dropped_and_counted(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url)
    charger = await connect_charge_point(lc_url(router), "CP-L", "ocpp1.6", answer_delay_s=0.6)
    try:
        with pytest.raises(ChargerCallTimeout):
            await router.call("CP-L", "SetChargingProfile", LC_PROFILE_16, timeout_s=0.2)
        await wait_until(
            lambda: router.metrics.late_replies_dropped._value.get() == 1, what="the late answer"
        )
        csms_side = csms.connections["CP-L"]
        assert csms_side.received == []  # the late answer did not leak to the CSMS
        # The link is healthy afterwards, in both directions.
        charger.cp.answer_delay_s = 0
        assert (await router.call("CP-L", "Reset", {"type": "Soft"})) == {"status": "Accepted"}
        heartbeat = await charger.cp.call(call16.Heartbeat())
        assert heartbeat.current_time
        assert router.metrics.lc_calls.labels("SetChargingProfile", "timeout")._value.get() == 1
    finally:
        await charger.close()


async def test_lc_call_errors_are_reported(csms: Csms, make_router: RouterFactory) -> None:
    router = await make_router(csms.url)
    charger = await connect_charge_point(lc_url(router), "CP-E", "ocpp1.6")
    try:
        with pytest.raises(ChargerCallRejected) as rejected:  # the charger has no handler for it
            await router.call("CP-E", "ClearCache", {})
        assert rejected.value.code == "NotImplemented"
        with pytest.raises(ValueError, match="SetChargingProfile"):
            await router.call("CP-E", "SetChargingProfile", {"connectorId": "one"})
        with pytest.raises(ChargerNotConnected):
            await router.call("NOBODY", "Reset", {"type": "Soft"})
    finally:
        await charger.close()


async def test_csms_call_waits_behind_an_outstanding_lc_call(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url)
    charger = await connect_charge_point(lc_url(router), "CP-W", "ocpp1.6", answer_delay_s=0.3)
    try:
        await charger.cp.boot()
        lc_call = asyncio.create_task(router.call("CP-W", "SetChargingProfile", LC_PROFILE_16))
        await wait_until(lambda: charger.cp.handled == ["SetChargingProfile"], what="LC call")
        started = await csms.stations["CP-W"].call(
            call16.RemoteStartTransaction(id_tag="T", connector_id=1)
        )
        assert started.status == "Accepted"
        assert (await lc_call)["status"] == "Accepted"
        assert charger.cp.handled == ["SetChargingProfile", "RemoteStartTransaction"]
        assert charger.recorder.log[-2][0] == "in" and "RemoteStart" in charger.recorder.log[-2][1]
        assert now_iso()
    finally:
        await charger.close()
