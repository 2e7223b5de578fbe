"""Independent peers (PyPI `ocpp` CSMS and charge points) talking through the LC."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from router import events as ev
from tests.conftest import RouterFactory, lc_url
from tests.peers import Csms, connect_charge_point, now_iso, wait_until


def _assert_byte_identical(
    csms: Csms, identity: str, charger_sent: list[str], got: list[str]
) -> None:
    station_side = csms.connections[identity]
    assert station_side.received == charger_sent
    assert got == station_side.sent


def _of(observed: list[ev.Event], kind: type) -> list[Any]:
    return [event for event in observed if isinstance(event, kind)]


async def test_ocpp16_charger_and_csms_through_the_lc(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url)
    charger = await connect_charge_point(lc_url(router), "CP16", "ocpp1.6")
    cp = charger.cp
    try:
        boot = await cp.boot()
        assert boot.status == "Accepted" and boot.interval == 300
        await cp.call(call16.Heartbeat())
        await cp.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Preparing")
        )
        assert (await cp.call(call16.Authorize(id_tag="TAG1"))).id_tag_info["status"] == "Accepted"
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG1", meter_start=100, timestamp=now_iso()
            )
        )
        transaction_id = started.transaction_id
        await cp.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=transaction_id,
                meter_value=[
                    {
                        "timestamp": now_iso(),
                        "sampledValue": [
                            {"value": "15.5", "measurand": "Current.Import", "phase": "L1"},
                            {"value": "16.0", "measurand": "Current.Import", "phase": "L2"},
                            {
                                "value": "1.234",
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "kWh",
                            },
                        ],
                    }
                ],
            )
        )
        await cp.call(
            call16.StopTransaction(
                meter_stop=2000, timestamp=now_iso(), transaction_id=transaction_id
            )
        )

        station = csms.stations["CP16"]
        config = await station.call(call16.GetConfiguration(key=["HeartbeatInterval"]))
        assert config.configuration_key[0]["value"] == "300"
        remote = await station.call(call16.RemoteStartTransaction(id_tag="TAG2", connector_id=1))
        assert remote.status == "Accepted"
        profile = {
            "chargingProfileId": 7,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "startSchedule": now_iso(),
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1.50}],
            },
        }
        answer = await station.call(
            call16.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)
        )
        assert answer.status == "Accepted"
        assert (await station.call(call16.Reset(type="Soft"))).status == "Accepted"

        assert station.actions == [
            "BootNotification",
            "Heartbeat",
            "StatusNotification",
            "Authorize",
            "StartTransaction",
            "MeterValues",
            "StopTransaction",
        ]
        assert cp.handled == [
            "GetConfiguration",
            "RemoteStartTransaction",
            "SetChargingProfile",
            "Reset",
        ]
        _assert_byte_identical(csms, "CP16", charger.recorder.sent, charger.recorder.received)

        observed = router.observed
        assert _of(observed, ev.ChargerConnected)[0].version.value == "ocpp1.6"
        boot_event = _of(observed, ev.BootNotified)[0]
        assert (boot_event.vendor, boot_event.model, boot_event.interval_s) == (
            "Vendor",
            "Model16",
            300,
        )
        assert _of(observed, ev.StatusChanged)[0].status == "Preparing"
        assert _of(observed, ev.TransactionStarted)[0].transaction_id == str(transaction_id)
        sample = _of(observed, ev.MeterSampled)[0]
        assert sample.current_a == (15.5, 16.0, None)
        assert sample.energy_wh == 1234.0
        assert _of(observed, ev.TransactionEnded)[0].transaction_id == str(transaction_id)
        profile_set = _of(observed, ev.ChargingProfileSet)[0]
        assert profile_set.accepted and profile_set.evse_id == 1
        assert profile_set.profile["chargingProfileId"] == 7
    finally:
        await charger.close()
    await wait_until(lambda: _of(router.observed, ev.ChargerDisconnected), what="disconnect")


async def test_ocpp201_station_and_csms_through_the_lc(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url)
    charger = await connect_charge_point(lc_url(router), "CS201", "ocpp2.0.1")
    cp = charger.cp
    try:
        assert (await cp.boot()).status == "Accepted"
        await cp.call(call201.Heartbeat())
        await cp.call(
            call201.StatusNotification(
                timestamp=now_iso(), connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
        token = {"idToken": "TOKEN1", "type": "ISO14443"}
        assert (await cp.call(call201.Authorize(id_token=token))).id_token_info["status"] == (
            "Accepted"
        )
        for seq, (kind, trigger) in enumerate(
            [
                ("Started", "Authorized"),
                ("Updated", "MeterValuePeriodic"),
                ("Ended", "StopAuthorized"),
            ]
        ):
            await cp.call(
                call201.TransactionEvent(
                    event_type=kind,
                    timestamp=now_iso(),
                    trigger_reason=trigger,
                    seq_no=seq,
                    transaction_info={"transactionId": "TX-1", "chargingState": "Charging"},
                    evse={"id": 1, "connectorId": 1},
                    id_token=token if kind == "Started" else None,
                    meter_value=[
                        {
                            "timestamp": now_iso(),
                            "sampledValue": [
                                {"value": 10.5, "measurand": "Current.Import", "phase": "L1"},
                                {"value": 11, "measurand": "Current.Import", "phase": "L2"},
                                {"value": 12, "measurand": "Current.Import", "phase": "L3"},
                            ],
                        }
                    ],
                )
            )

        station = csms.stations["CS201"]
        variables = await station.call(
            call201.GetVariables(
                get_variable_data=[
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            )
        )
        assert variables.get_variable_result[0]["attribute_value"] == "300"
        started = await station.call(
            call201.RequestStartTransaction(id_token=token, remote_start_id=1, evse_id=1)
        )
        assert started.status == "Accepted"
        profile = {
            "id": 9,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [
                {
                    "id": 1,
                    "chargingRateUnit": "A",
                    "startSchedule": now_iso(),
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
                }
            ],
        }
        answer = await station.call(call201.SetChargingProfile(evse_id=1, charging_profile=profile))
        assert answer.status == "Accepted"
        assert (await station.call(call201.Reset(type="Immediate"))).status == "Accepted"

        assert station.actions == [
            "BootNotification",
            "Heartbeat",
            "StatusNotification",
            "Authorize",
            "TransactionEvent",
            "TransactionEvent",
            "TransactionEvent",
        ]
        _assert_byte_identical(csms, "CS201", charger.recorder.sent, charger.recorder.received)

        observed = router.observed
        assert _of(observed, ev.TransactionStarted)[0].transaction_id == "TX-1"
        assert _of(observed, ev.TransactionUpdated)[0].charging_state == "Charging"
        assert _of(observed, ev.TransactionEnded)[0].evse_id == 1
        assert _of(observed, ev.MeterSampled)[0].current_a == (10.5, 11.0, 12.0)
        assert _of(observed, ev.ChargingProfileSet)[0].profile["id"] == 9
    finally:
        await charger.close()
