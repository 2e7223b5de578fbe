"""The LC's own identity at a 1.6 CSMS (`[station] ocpp_version = "1.6"`): a CSMS built on the
PyPI `ocpp` package's v16 ChargePoint boots, configures and limits a running LC over real
sockets, on the same device model and site-limit rules as 2.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeAlias

import pytest
from ocpp.v16 import call as call16

from balancer.site_cap import CapSource
from lc.app import LocalController
from lc.config import parse_config
from ocpp_knowledge.ocpp_time import to_ocpp_time
from station.config import package_version
from station.session import LinkState
from tests.peers import running, wait_until
from tests.station.csms16_for_lc import CsmsForLc16, change_configuration
from tests.station.csms_for_lc import IDENTITY, accepted_lc, station_config
from tests.station.garage_for_lc import (
    BASE_LOAD_A,
    CHARGER_MAX_A,
    CONFIG_CAP_A,
    MARGIN_A,
    Stops,
    charging_garage,
    next_period,
)
from tests.station.test_site_limit_from_csms import HEADROOM_A, SITE_LIMIT_A, capped_at

pytestmark = pytest.mark.timeout(90)

_PHASES = ("L1", "L2", "L3")
TriggerMessages: TypeAlias = call16.TriggerMessage | call16.ExtendedTriggerMessage


def v16_config(csms: CsmsForLc16, folder: Path) -> dict[str, Any]:
    return station_config(csms, folder, ocpp_version="1.6")


def last_error_code(csms: CsmsForLc16) -> str | None:
    """The code of the LC's latest CALLERROR to the CSMS."""
    errors = [f for f in map(json.loads, csms.connections[-1].received) if f[0] == 4]
    return str(errors[-1][2]) if errors else None


def _answer_to(received: list[str], message_id: object) -> list[Any] | None:
    """The LC's CALLERROR to `message_id`: type, id and code."""
    for frame in map(json.loads, received):
        if frame[0] == 4 and frame[1] == message_id:
            return list(frame[:3])
    return None


def charge_point_max(
    limit: float, unit: str = "A", purpose: str = "ChargePointMaxProfile"
) -> dict[str, Any]:
    """A 1.6 csChargingProfiles for the site, its schedule starting now."""
    return {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": to_ocpp_time(datetime.now(UTC)),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
    }


async def test_the_boot_is_worded_in_16_and_connector_0_is_reported(
    csms16: CsmsForLc16, tmp_path: Path
) -> None:
    async with accepted_lc(v16_config(csms16, tmp_path)):
        lc_at_csms = csms16.station16
        await wait_until(lambda: lc_at_csms.statuses, 10, "a StatusNotification")
        assert csms16.connections[0].ws.subprotocol == "ocpp1.6"
        assert lc_at_csms.boots == [
            {
                "charge_point_vendor": "OCPP LocalController",
                "charge_point_model": "LocalController",
                "charge_point_serial_number": "SN-0001",
                "firmware_version": package_version(),
            }
        ]
        status = lc_at_csms.statuses[0]
        assert (status["connector_id"], status["status"], status["error_code"]) == (
            0,
            "Available",
            "NoError",
        )


async def test_a_pending_lc_is_configured_then_accepted(tmp_path: Path) -> None:
    async with running(CsmsForLc16(boot_answers=[("Pending", 1)])) as csms16:
        lc = LocalController(parse_config(v16_config(csms16, tmp_path)))
        await lc.start()
        try:
            station = lc.station
            assert station is not None
            await wait_until(lambda: station.session.state is LinkState.PENDING, 10, "Pending")
            lc_at_csms = csms16.station16
            got = await lc_at_csms.call(
                call16.GetConfiguration(key=["HeartbeatInterval", "LocalController.Identity", "No"])
            )
            assert {entry["key"]: entry for entry in got.configuration_key} == {
                "HeartbeatInterval": {
                    "key": "HeartbeatInterval",
                    "readonly": False,
                    "value": "300",
                },
                "LocalController.Identity": {
                    "key": "LocalController.Identity",
                    "readonly": True,
                    "value": IDENTITY,
                },
            }
            assert got.unknown_key == ["No"]
            changes = [
                ("HeartbeatInterval", "soon", "Rejected"),
                ("HeartbeatInterval", "0", "Rejected"),
                ("LocalController.Identity", "other", "Rejected"),  # read-only
                ("SupportedFeatureProfiles", "Core", "Rejected"),  # read-only
                ("NoSuchKey", "1", "NotSupported"),
                ("HeartbeatInterval", "45", "Accepted"),
            ]
            await change_configuration(lc_at_csms, changes)
            assert station.session.heartbeat_interval_s == 45
            everything = await lc_at_csms.call(call16.GetConfiguration())
            keys = {entry["key"] for entry in everything.configuration_key}
            assert {"SupportedFeatureProfiles", "LocalController.Model"} <= keys
            # Pending: the LC answered, and sent nothing but BootNotifications.
            assert set(csms16.calls()) == {"BootNotification"}
            csms16.boot_answers = [("Accepted", 60)]
            await wait_until(lambda: station.session.state is LinkState.ACCEPTED, 10, "Accepted")
            assert station.session.heartbeat_interval_s == 60  # the boot's interval applies
        finally:
            await lc.stop()


async def test_trigger_message_asks_for_the_lcs_own_messages_in_16_names(
    csms16: CsmsForLc16, tmp_path: Path
) -> None:
    """TriggerMessage and the security whitepaper's ExtendedTriggerMessage: connector 0 only."""
    async with accepted_lc(v16_config(csms16, tmp_path)):
        lc_at_csms = csms16.station16
        await wait_until(lambda: lc_at_csms.statuses, 10, "the status after the boot")
        triggers: list[tuple[TriggerMessages, str]] = [
            (
                call16.TriggerMessage(requested_message="StatusNotification", connector_id=0),
                "Accepted",
            ),
            (
                call16.TriggerMessage(requested_message="StatusNotification", connector_id=1),
                "Rejected",
            ),
            (call16.TriggerMessage(requested_message="MeterValues"), "Rejected"),
            (call16.TriggerMessage(requested_message="Heartbeat"), "Accepted"),
            (call16.TriggerMessage(requested_message="BootNotification"), "Accepted"),
            (call16.ExtendedTriggerMessage(requested_message="StatusNotification"), "Accepted"),
            (
                call16.ExtendedTriggerMessage(requested_message="Heartbeat", connector_id=1),
                "Rejected",
            ),
            (call16.ExtendedTriggerMessage(requested_message="MeterValues"), "Rejected"),
            (call16.ExtendedTriggerMessage(requested_message="LogStatusNotification"), "Accepted"),
            (
                call16.ExtendedTriggerMessage(requested_message="FirmwareStatusNotification"),
                "Accepted",
            ),
            # Without [certificates] the LC has no certificate of its own to renew.
            (
                call16.ExtendedTriggerMessage(requested_message="SignChargePointCertificate"),
                "NotImplemented",
            ),
            (call16.ExtendedTriggerMessage(requested_message="BootNotification"), "Accepted"),
        ]
        for trigger, status in triggers:
            answer = await lc_at_csms.call(trigger)
            assert (trigger.requested_message, answer.status) == (trigger.requested_message, status)
        await wait_until(lambda: len(lc_at_csms.boots) == 3, 10, "the triggered boots")
        await wait_until(lambda: len(lc_at_csms.statuses) >= 3, 10, "the triggered statuses")
        assert "Heartbeat" in csms16.calls()
        # No upload and no signed update of its own under way: Idle, without a requestId.
        assert csms16.log_statuses == [{"status": "Idle"}]
        assert csms16.signed_firmware_statuses == [{"status": "Idle"}]
        assert await lc_at_csms.call(call16.UnlockConnector(connector_id=1)) is None
        assert last_error_code(csms16) == "NotSupported"


async def test_calls_are_checked_against_the_16_schemas(
    csms16: CsmsForLc16, tmp_path: Path
) -> None:
    async with accepted_lc(v16_config(csms16, tmp_path)):
        connection = csms16.connections[-1]
        invalid = [
            (
                [2, "no-value", "ChangeConfiguration", {"key": "HeartbeatInterval"}],
                "OccurrenceConstraintViolation",
            ),
            ([2, "not-16", "GetVariables", {"getVariableData": []}], "NotImplemented"),
        ]
        for frame, code in invalid:
            answer = partial(_answer_to, connection.received, frame[1])
            await connection.send(json.dumps(frame))
            await wait_until(answer, 10, f"the answer to {frame[2]}")
            assert answer() == [4, frame[1], code]


async def test_change_configuration_of_the_cap_changes_the_next_allocation(
    csms16: CsmsForLc16, stack: Stops, tmp_path: Path
) -> None:
    garage = await charging_garage(csms16, stack, tmp_path, ocpp_version="1.6")
    balancer, charge_point = garage.balancer, garage.charge_point
    lc_at_csms = csms16.station16
    caps = [(f"SiteLoadBalancer.PhaseCap[{phase}]", "20", "Accepted") for phase in _PHASES]
    # Below the least cap the CSMS may set.
    await change_configuration(
        lc_at_csms, [*caps, ("SiteLoadBalancer.PhaseCap[L1]", "0.5", "Rejected")]
    )
    got = await lc_at_csms.call(call16.GetConfiguration(key=["SiteLoadBalancer.PhaseCap[L2]"]))
    assert got.configuration_key == [
        {"key": "SiteLoadBalancer.PhaseCap[L2]", "readonly": False, "value": "20"}
    ]
    for _ in range(2):  # the period under way at the answer may have read the old cap
        await next_period(balancer)
    allocation = balancer.last_allocation
    assert allocation is not None and allocation.headroom is not None
    assert max(allocation.headroom) <= 20 - MARGIN_A
    await wait_until(
        lambda: (charge_point.limit or 0) <= 20 - MARGIN_A - BASE_LOAD_A, 20, "the car cut"
    )


async def test_a_charge_point_max_profile_lowers_the_cap_until_cleared(
    csms16: CsmsForLc16, stack: Stops, tmp_path: Path
) -> None:
    garage = await charging_garage(csms16, stack, tmp_path, ocpp_version="1.6")
    balancer, charge_point = garage.balancer, garage.charge_point
    lc_at_csms = csms16.station16
    refusals = [
        call16.SetChargingProfile(connector_id=1, cs_charging_profiles=charge_point_max(10)),
        call16.SetChargingProfile(
            connector_id=0, cs_charging_profiles=charge_point_max(10, purpose="TxDefaultProfile")
        ),
    ]
    for refused in refusals:
        assert (await lc_at_csms.call(refused)).status == "Rejected"
    watts = SITE_LIMIT_A * 230 * 3  # the site's nominal voltage, three phases
    answer = await lc_at_csms.call(
        call16.SetChargingProfile(connector_id=0, cs_charging_profiles=charge_point_max(watts, "W"))
    )
    assert answer.status == "Accepted"
    await capped_at(balancer, SITE_LIMIT_A, CapSource.CSMS)
    await wait_until(
        lambda: (charge_point.limit or 0) <= HEADROOM_A, 20, "the car cut under the CSMS's limit"
    )

    composite = await lc_at_csms.call(
        call16.GetCompositeSchedule(connector_id=0, duration=600, charging_rate_unit="A")
    )
    assert (composite.status, composite.connector_id) == ("Accepted", 0)
    schedule = composite.charging_schedule
    assert schedule["charging_rate_unit"] == "A" and schedule["duration"] == 600
    periods = schedule["charging_schedule_period"]
    assert [(p["start_period"], p["limit"]) for p in periods] == [(0, SITE_LIMIT_A)]
    elsewhere = await lc_at_csms.call(call16.GetCompositeSchedule(connector_id=1, duration=600))
    assert elsewhere.status == "Rejected"

    cleared = await lc_at_csms.call(call16.ClearChargingProfile(id=1))
    assert cleared.status == "Accepted"
    await capped_at(balancer, CONFIG_CAP_A, CapSource.CONFIG)
    again = await lc_at_csms.call(call16.ClearChargingProfile(id=1))
    assert again.status == "Unknown"
    await wait_until(
        lambda: charge_point.limit == CHARGER_MAX_A, 20, "the car back at its charger's maximum"
    )
