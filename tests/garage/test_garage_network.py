"""The garage over real sockets on 127.0.0.1: SimulatedCsms <-> SimulatedChargePoint (1.6 and
2.0.1, no LC in between), and SimulatedSite -> SimulatedMeter -> MeterReader over Modbus TCP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from garage.charge_point import SimulatedChargePoint
from garage.csms import SimulatedCsms
from garage.profile_store import ChargePointVersion
from garage.site import SimulatedSite
from modbus.reader import MeterConfig, MeterReader
from modbus.simulator import SimulatedMeter
from tests.peers import wait_until

pytestmark = pytest.mark.timeout(15)

REACTION_S = 0.3
METER_INTERVAL_S = 0.3
VERSIONS: list[ChargePointVersion] = ["1.6", "2.0.1"]

MakeChargePoint = Callable[..., Awaitable[SimulatedChargePoint]]


@pytest.fixture
async def garage_csms() -> AsyncIterator[SimulatedCsms]:
    async with SimulatedCsms() as csms:
        yield csms


@pytest.fixture
async def make_charge_point(garage_csms: SimulatedCsms) -> AsyncIterator[MakeChargePoint]:
    started: list[SimulatedChargePoint] = []

    async def make(
        identity: str, version: ChargePointVersion = "1.6", **options: Any
    ) -> SimulatedChargePoint:
        charge_point = SimulatedChargePoint(
            garage_csms.url,
            identity,
            version=version,
            reaction_delay_s=REACTION_S,
            meter_interval_s=METER_INTERVAL_S,
            reconnect_delay_s=0.1,
            **options,
        )
        started.append(charge_point)
        await charge_point.connect()
        return charge_point

    yield make
    for charge_point in started:
        await charge_point.close()


def set_profile(
    charge_point: SimulatedChargePoint,
    *,
    purpose: str,
    limit: float,
    profile_id: int = 1,
    stack_level: int = 0,
    connector_id: int = 1,
    unit: str = "A",
    duration_s: int | None = None,
) -> Any:
    """A SetChargingProfile request from the CSMS, Relative (or Absolute for the charger max,
    which 2.0.1 does not allow to be Relative), naming the transaction for a TxProfile."""
    transaction = charge_point.transaction
    schedule: dict[str, Any] = {
        "charging_rate_unit": unit,
        "charging_schedule_period": [{"start_period": 0, "limit": limit}],
    }
    if duration_s is not None:
        schedule["duration"] = duration_s
    profile: dict[str, Any] = {
        "stack_level": stack_level,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": "Relative",
    }
    if purpose.endswith("MaxProfile"):
        profile["charging_profile_kind"] = "Absolute"
        schedule["start_schedule"] = "2025-01-01T00:00:00Z"
    if purpose == "TxProfile" and transaction is not None:
        profile["transaction_id"] = transaction.transaction_id
    if charge_point.version == "1.6":
        return call16.SetChargingProfile(
            connector_id=connector_id,
            cs_charging_profiles=profile
            | {"charging_profile_id": profile_id, "charging_schedule": schedule},
        )
    return call201.SetChargingProfile(
        evse_id=connector_id,
        charging_profile=profile
        | {"id": profile_id, "charging_schedule": [schedule | {"id": profile_id}]},
    )


async def csms_call(csms: SimulatedCsms, charge_point: SimulatedChargePoint, request: Any) -> Any:
    return await csms.station(charge_point.identity).call(request, suppress=False)


async def wait_for_draw(
    charge_point: SimulatedChargePoint, currents: tuple[float, float, float]
) -> None:
    await wait_until(
        lambda: charge_point.phase_currents() == currents, timeout_s=3, what=f"draw {currents}"
    )


@pytest.mark.parametrize("version", VERSIONS)
async def test_car_follows_a_csms_limit_after_the_reaction_delay(
    garage_csms: SimulatedCsms, make_charge_point: MakeChargePoint, version: ChargePointVersion
) -> None:
    charge_point = await make_charge_point(f"cp-{version}", version)
    await charge_point.plug_in(32.0)
    await wait_for_draw(charge_point, (32.0, 32.0, 32.0))

    result = await csms_call(
        garage_csms, charge_point, set_profile(charge_point, purpose="TxProfile", limit=10.0)
    )
    assert result.status == "Accepted"
    assert charge_point.limit == 10.0
    # In this order: the limit is in place while the car still draws as before, then it
    # follows (the length of the delay is checked on the EVSE's own clock in test_evse).
    assert charge_point.phase_currents() == (32.0, 32.0, 32.0)  # the car has not reacted yet
    await wait_for_draw(charge_point, (10.0, 10.0, 10.0))


async def test_v16_meter_values_reach_the_csms(
    garage_csms: SimulatedCsms, make_charge_point: MakeChargePoint
) -> None:
    charge_point = await make_charge_point("cp16", "1.6")
    await charge_point.plug_in(16.0, phases=1)
    await wait_for_draw(charge_point, (16.0, 0.0, 0.0))
    log = garage_csms.log("cp16")
    await wait_until(lambda: log.received["MeterValues"] >= 1, what="MeterValues")
    await wait_until(
        lambda: (
            _values(log.payloads("MeterValues")[-1]["meterValue"][0])["Current.Import L1"] == "16.0"
        ),
        what="a sample after the car started",
    )
    meter_values = log.payloads("MeterValues")[-1]
    assert charge_point.transaction is not None
    assert meter_values["transactionId"] == charge_point.transaction.transaction_id
    values = _values(meter_values["meterValue"][0])
    assert values["Current.Import L2"] == values["Current.Import L3"] == "0.0"
    assert values["Power.Active.Import"] == f"{230 * 16.0:.1f}"
    assert float(values["Energy.Active.Import.Register"]) >= 0.0
    assert log.received["StatusNotification"] == 4  # connector 0, 1; Preparing; Charging
    assert log.received["StartTransaction"] == 1


async def test_v201_meter_values_reach_the_csms(
    garage_csms: SimulatedCsms, make_charge_point: MakeChargePoint
) -> None:
    charge_point = await make_charge_point("cs201", "2.0.1")
    await charge_point.plug_in(20.0)
    await wait_for_draw(charge_point, (20.0, 20.0, 20.0))
    log = garage_csms.log("cs201")

    def periodic() -> list[dict[str, Any]]:
        events = log.payloads("TransactionEvent")
        return [e for e in events if e["triggerReason"] == "MeterValuePeriodic"]

    await wait_until(
        lambda: (
            bool(periodic())
            and _values(periodic()[-1]["meterValue"][0])["Current.Import L3"] == 20.0
        ),
        what="a periodic TransactionEvent after the car started",
    )
    started, charging = log.payloads("TransactionEvent")[:2]
    assert (started["eventType"], started["transactionInfo"]["chargingState"]) == (
        "Started",
        "EVConnected",
    )
    assert (charging["eventType"], charging["transactionInfo"]["chargingState"]) == (
        "Updated",
        "Charging",
    )
    event = periodic()[-1]
    assert charge_point.transaction is not None
    assert event["transactionInfo"]["transactionId"] == charge_point.transaction.transaction_id
    assert [e["seqNo"] for e in log.payloads("TransactionEvent")] == list(
        range(len(log.payloads("TransactionEvent")))
    )
    assert _values(event["meterValue"][0])["Power.Active.Import"] == 230 * 20.0 * 3


def _values(meter_value: dict[str, Any]) -> dict[str, Any]:
    """sampledValue entries by 'measurand' or 'measurand phase'."""
    return {
        " ".join(filter(None, (v["measurand"], v.get("phase")))): v["value"]
        for v in meter_value["sampledValue"]
    }


async def test_site_sums_chargers_through_phase_rotation_into_the_meter(
    garage_csms: SimulatedCsms, make_charge_point: MakeChargePoint
) -> None:
    one_phase = await make_charge_point("cp16", "1.6")
    three_phase = await make_charge_point("cs201", "2.0.1")
    await one_phase.plug_in(16.0, phases=1)
    await three_phase.plug_in(32.0)
    result = await csms_call(
        garage_csms, three_phase, set_profile(three_phase, purpose="TxDefaultProfile", limit=20.0)
    )
    assert result.status == "Accepted"
    await wait_for_draw(one_phase, (16.0, 0.0, 0.0))
    await wait_for_draw(three_phase, (20.0, 20.0, 20.0))

    async with SimulatedMeter("eastron_sdm630") as meter:
        site = SimulatedSite(
            meter,
            [(one_phase, (2, 3, 1)), (three_phase, (1, 2, 3))],
            base_load=lambda t: (5.0, 3.0, 2.0),
            update_period_s=0.05,
        )
        await site.start()
        await wait_until(lambda: len(site.history) >= 3, what="three site samples")
        reader = MeterReader(MeterConfig(meter.link, "eastron_sdm630", timeout_s=1.0))
        try:
            reading = await reader.read()
        finally:
            reader.close()
            await site.stop()
    assert reading.currents == pytest.approx((25.0, 39.0, 22.0))
    assert reading.voltages == pytest.approx((230.0, 230.0, 230.0))
    assert reading.power_w == pytest.approx(230.0 * (25 + 39 + 22))
    assert site.history[-1].currents == pytest.approx((25.0, 39.0, 22.0))
    assert site.seconds_above(39.5) == 0.0
    assert site.seconds_above(38.0) > 0.0


async def test_charger_maximum_and_composite_schedule_in_both_units(
    garage_csms: SimulatedCsms, make_charge_point: MakeChargePoint
) -> None:
    charge_point = await make_charge_point("cp16", "1.6")
    await charge_point.plug_in(32.0)
    for request in (
        set_profile(charge_point, purpose="ChargePointMaxProfile", limit=16.0, connector_id=0),
        set_profile(
            charge_point, purpose="TxDefaultProfile", limit=10.0, profile_id=2, duration_s=600
        ),
    ):
        assert (await csms_call(garage_csms, charge_point, request)).status == "Accepted"
    await wait_for_draw(charge_point, (10.0, 10.0, 10.0))

    watts = await csms_call(
        garage_csms,
        charge_point,
        call16.GetCompositeSchedule(connector_id=1, duration=3600, charging_rate_unit="W"),
    )
    assert watts.status == "Accepted"
    periods = watts.charging_schedule["charging_schedule_period"]
    # The Relative TxDefault counts from the transaction start, so it ends just under 600 s on.
    assert [p["limit"] for p in periods] == [6900.0, 11040.0]
    assert 595 <= periods[1]["start_period"] <= 600

    charge_point_201 = await make_charge_point("cs201", "2.0.1")
    amperes = await csms_call(
        garage_csms,
        charge_point_201,
        call201.GetCompositeSchedule(duration=60, evse_id=1, charging_rate_unit="A"),
    )
    assert amperes.schedule["charging_schedule_period"] == [
        {"start_period": 0, "limit": 32.0, "number_phases": 3}
    ]


async def test_clearing_a_profile_lets_the_car_draw_its_maximum_again(
    garage_csms: SimulatedCsms, make_charge_point: MakeChargePoint
) -> None:
    charge_point = await make_charge_point("cs201", "2.0.1")
    await charge_point.plug_in(16.0)
    request = set_profile(charge_point, purpose="TxProfile", limit=8.0, profile_id=5)
    assert (await csms_call(garage_csms, charge_point, request)).status == "Accepted"
    await wait_for_draw(charge_point, (8.0, 8.0, 8.0))
    clear = call201.ClearChargingProfile(charging_profile_id=5)
    assert (await csms_call(garage_csms, charge_point, clear)).status == "Accepted"
    assert (await csms_call(garage_csms, charge_point, clear)).status == "Unknown"
    assert charge_point.limit is None
    await wait_for_draw(charge_point, (16.0, 16.0, 16.0))


@pytest.mark.parametrize("version", VERSIONS)
async def test_unplug_ends_the_transaction_and_its_tx_profile(
    garage_csms: SimulatedCsms, make_charge_point: MakeChargePoint, version: ChargePointVersion
) -> None:
    charge_point = await make_charge_point("cp", version)
    await charge_point.plug_in(16.0)
    request = set_profile(charge_point, purpose="TxProfile", limit=8.0)
    assert (await csms_call(garage_csms, charge_point, request)).status == "Accepted"
    await charge_point.unplug()
    assert charge_point.phase_currents() == (0.0, 0.0, 0.0)
    assert charge_point.transaction is None
    assert charge_point.profiles == ()
    log = garage_csms.log("cp")
    if version == "1.6":
        assert log.received["StopTransaction"] == 1
        assert log.payloads("StatusNotification")[-1]["status"] == "Available"
    else:
        assert log.payloads("TransactionEvent")[-1]["eventType"] == "Ended"
        assert log.payloads("StatusNotification")[-1]["connectorStatus"] == "Available"
    # Without a transaction a TxProfile is refused.
    rejected = set_profile(charge_point, purpose="TxProfile", limit=8.0)
    assert (await csms_call(garage_csms, charge_point, rejected)).status == "Rejected"
    assert charge_point.rejections == ["no transaction on the connector"]


async def test_disobedient_charger_accepts_and_keeps_drawing(
    garage_csms: SimulatedCsms, make_charge_point: MakeChargePoint
) -> None:
    charge_point = await make_charge_point("cp16", "1.6", obeys_profiles=False)
    obedient = await make_charge_point("cp16-obedient", "1.6")
    for one in (charge_point, obedient):
        await one.plug_in(32.0)
    await wait_for_draw(obedient, (32.0, 32.0, 32.0))
    for one in (charge_point, obedient):
        request = set_profile(one, purpose="TxProfile", limit=10.0)
        assert (await csms_call(garage_csms, one, request)).status == "Accepted"
        assert one.limit == 10.0
    # Once a charger given the same limit later has followed it, this one still has not.
    await wait_for_draw(obedient, (10.0, 10.0, 10.0))
    assert charge_point.phase_currents() == (32.0, 32.0, 32.0)


@pytest.mark.parametrize("version", VERSIONS)
async def test_charger_without_smart_charging_answers_not_implemented(
    garage_csms: SimulatedCsms, make_charge_point: MakeChargePoint, version: ChargePointVersion
) -> None:
    charge_point = await make_charge_point("cp", version, smart_charging="notimplemented")
    await charge_point.plug_in(16.0)
    request = set_profile(charge_point, purpose="TxDefaultProfile", limit=8.0)
    with pytest.raises(OcppNotImplementedError):
        await csms_call(garage_csms, charge_point, request)
    assert charge_point.profiles == ()


@pytest.mark.parametrize("version", VERSIONS)
async def test_station_max_only_charger_rejects_tx_profiles_and_obeys_its_maximum(
    garage_csms: SimulatedCsms, make_charge_point: MakeChargePoint, version: ChargePointVersion
) -> None:
    charge_point = await make_charge_point("cp", version, smart_charging="station_max_only")
    await charge_point.plug_in(16.0)
    for purpose in ("TxDefaultProfile", "TxProfile"):
        request = set_profile(charge_point, purpose=purpose, limit=8.0)
        assert (await csms_call(garage_csms, charge_point, request)).status == "Rejected"
    assert charge_point.rejections == [
        "tx default profiles not supported",
        "tx profiles not supported",
    ]
    maximum = "ChargePointMaxProfile" if version == "1.6" else "ChargingStationMaxProfile"
    request = set_profile(charge_point, purpose=maximum, limit=10.0, connector_id=0)
    assert (await csms_call(garage_csms, charge_point, request)).status == "Accepted"
    await wait_for_draw(charge_point, (10.0, 10.0, 10.0))


async def test_v16_get_configuration_reports_smart_charging_capabilities(
    garage_csms: SimulatedCsms, make_charge_point: MakeChargePoint
) -> None:
    smart = await make_charge_point("smart", "1.6")
    plain = await make_charge_point("plain", "1.6", smart_charging="notimplemented")
    keys = [
        "ChargeProfileMaxStackLevel",
        "ChargingScheduleAllowedChargingRateUnit",
        "ChargingScheduleMaxPeriods",
        "MaxChargingProfilesInstalled",
        "NoSuchKey",
    ]
    request = call16.GetConfiguration(key=keys)
    answer = await csms_call(garage_csms, smart, request)
    assert {entry["key"]: entry["value"] for entry in answer.configuration_key} == {
        "ChargeProfileMaxStackLevel": "10",
        "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
        "ChargingScheduleMaxPeriods": "24",
        "MaxChargingProfilesInstalled": "20",
    }
    assert answer.unknown_key == ["NoSuchKey"]
    answer = await csms_call(garage_csms, plain, request)
    assert answer.configuration_key == []
    assert answer.unknown_key == keys


async def test_v201_get_variables_reports_smart_charging_ctrlr(
    garage_csms: SimulatedCsms, make_charge_point: MakeChargePoint
) -> None:
    station = await make_charge_point("cs201", "2.0.1")
    names = ["Enabled", "ProfileStackLevel", "RateUnit", "PeriodsPerSchedule", "NoSuchVariable"]
    request = call201.GetVariables(
        get_variable_data=[
            {"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": name}}
            for name in names
        ]
        + [{"component": {"name": "NoSuchCtrlr"}, "variable": {"name": "Enabled"}}]
    )
    answer = await csms_call(garage_csms, station, request)
    assert [
        (r["attribute_status"], r.get("attribute_value")) for r in answer.get_variable_result
    ] == [
        ("Accepted", "true"),
        ("Accepted", "10"),
        ("Accepted", "A,W"),
        ("Accepted", "24"),
        ("UnknownVariable", None),
        ("UnknownComponent", None),
    ]


async def test_charger_reconnects_after_the_csms_comes_back(
    garage_csms: SimulatedCsms, make_charge_point: MakeChargePoint
) -> None:
    charge_point = await make_charge_point("cp16", "1.6")
    await charge_point.plug_in(16.0)
    await garage_csms.stop()
    await wait_until(lambda: not charge_point.connected, what="the drop")
    await garage_csms.start()
    await wait_until(lambda: charge_point.connected, what="the reconnect")
    assert charge_point.connects == 2
    assert garage_csms.count("cp16", "BootNotification") == 2
    # After the reboot the connector reports the running transaction again.
    assert garage_csms.log("cp16").payloads("StatusNotification")[-1]["status"] == "Charging"
    assert garage_csms.connected("cp16")


async def test_reconnect_attempts_are_bounded_per_minute() -> None:
    attempts = {"cp": 0, "unbounded": 0}

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        attempts["unbounded" if b"/unbounded " in request else "cp"] += 1
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    charge_point = SimulatedChargePoint(
        f"ws://127.0.0.1:{port}", "cp", reconnect_delay_s=0.05, max_connects_per_minute=3
    )
    # The same back-off without the bound sets the pace: while it retries ten times, the
    # bounded charger stops at three.
    pace_setter = SimulatedChargePoint(
        f"ws://127.0.0.1:{port}", "unbounded", reconnect_delay_s=0.05, max_connects_per_minute=100
    )
    running = [asyncio.create_task(one.run()) for one in (charge_point, pace_setter)]
    try:
        await wait_until(lambda: attempts["unbounded"] >= 10, what="ten unbounded attempts")
        assert attempts["cp"] == 3
    finally:
        for one in (charge_point, pace_setter):
            await one.close()
        await asyncio.gather(*running)
        server.close()
        await server.wait_closed()
