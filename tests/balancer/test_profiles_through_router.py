"""The load balancer inside a running LC: PyPI-`ocpp` charge points (1.6 and 2.0.1) behind the
router, a pymodbus simulated meter, and the profiles the balancer sends, checked on the wire."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets
from ocpp.v16 import ChargePoint as BareChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import call as call201
from websockets.typing import Subprotocol

from balancer.setup import Stage
from lc.app import LocalController
from lc.balancer_status import balancer_status
from lc.config import parse_config
from modbus.simulator import SimulatedMeter
from tests.peers import (
    ChargePoint16,
    Csms,
    RecordingConnection,
    RunningChargePoint,
    after,
    connect_charge_point,
    now_iso,
    on,
    wait_until,
)

BASE_LOAD_A = 10.0


def site_toml(csms_url: str, meter_port: int, **overrides: Any) -> dict[str, Any]:
    balancer = {
        "period_s": 0.2,
        "reaction_time_s": 0.4,
        "deadband_a": 0.5,
        "refresh_s": 5,
        "profile_duration_s": 30,
        "call_timeout_s": 2,
    }
    balancer.update(overrides.pop("balancer", {}))
    config = {
        "router": {
            "upstream_url": csms_url,
            "listen_host": "127.0.0.1",
            "listen_port": 0,
            "connection_loss": "close",
        },
        "metrics": {"listen_port": 0},
        "site": {"phase_cap_a": [32, 32, 32], "margin_a": 1.0},
        "meter": {
            "map": "eastron_sdm630",
            "host": "127.0.0.1",
            "port": meter_port,
            "timeout_s": 0.2,
            "stale_after_s": 1.0,
        },
        "balancer": balancer,
        "chargers": [
            {"identity": "CP-A", "max_current_a": 32, "safe_current_a": 6},
            {"identity": "CP-B", "max_current_a": 32, "safe_current_a": 6},
        ],
    }
    config.update(overrides)
    return config


@dataclass
class Garage:
    csms: Csms
    meter: SimulatedMeter
    lc: LocalController

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.lc.router.port}"


@pytest.fixture
async def make_garage() -> AsyncIterator[Callable[..., Awaitable[Garage]]]:
    """Start a CSMS, a meter at the base load and an LC configured by site_toml(**overrides)."""
    started: list[Garage] = []

    async def start(**overrides: Any) -> Garage:
        csms = Csms()
        await csms.start()
        meter = SimulatedMeter("eastron_sdm630")
        await meter.start()
        meter.set_reading(currents=(BASE_LOAD_A,) * 3, voltages=(230.0,) * 3)
        lc = LocalController(parse_config(site_toml(csms.url, meter.link.port, **overrides)))
        await lc.start()
        started.append(Garage(csms, meter, lc))
        return started[-1]

    yield start
    for garage in started:
        await garage.lc.stop()
        await garage.meter.stop()
        await garage.csms.stop()


@pytest.fixture
async def garage(make_garage: Callable[..., Awaitable[Garage]]) -> Garage:
    return await make_garage()


def latest_limit(charger: RunningChargePoint, purpose: str) -> float | None:
    """The limit of the last profile of `purpose` the charger got (profiles in snake_case)."""
    for profile in reversed(charger.cp.profiles):
        body = profile.get("cs_charging_profiles") or profile["charging_profile"]
        if body["charging_profile_purpose"] == purpose:
            schedule = body["charging_schedule"]
            schedule = schedule[0] if isinstance(schedule, list) else schedule
            return float(schedule["charging_schedule_period"][0]["limit"])
    return None


async def start_201_session(charger: RunningChargePoint) -> None:
    """Transaction TX-B, charging on EVSE 1 of a 2.0.1 charger."""
    await charger.cp.call(
        call201.TransactionEvent(
            event_type="Started",
            timestamp=now_iso(),
            trigger_reason="Authorized",
            seq_no=0,
            transaction_info={"transactionId": "TX-B", "chargingState": "Charging"},
            evse={"id": 1, "connectorId": 1},
        )
    )


async def start_sessions(garage: Garage) -> tuple[RunningChargePoint, RunningChargePoint]:
    a = await connect_charge_point(garage.url, "CP-A", "ocpp1.6")
    b = await connect_charge_point(garage.url, "CP-B", "ocpp2.0.1")
    await a.cp.boot()
    await b.cp.boot()
    await wait_until(
        lambda: latest_limit(a, "TxDefaultProfile") and latest_limit(b, "TxDefaultProfile"),
        what="floor profiles",
    )
    await a.cp.call(
        call16.StartTransaction(connector_id=1, id_tag="T1", meter_start=0, timestamp=now_iso())
    )
    await a.cp.call(
        call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
    )
    await start_201_session(b)
    return a, b


def follow_limits(garage: Garage, chargers: tuple[RunningChargePoint, ...]) -> asyncio.Task[None]:
    """Obedient cars, instantly: the meter shows the base load plus every car's TxProfile limit."""

    async def follow() -> None:
        while True:
            drawn = sum(latest_limit(c, "TxProfile") or 0.0 for c in chargers)
            garage.meter.set_reading(currents=(BASE_LOAD_A + drawn,) * 3)
            await asyncio.sleep(0.05)

    return asyncio.create_task(follow())


async def test_floor_then_bounded_tx_profiles_in_each_versions_shape(garage: Garage) -> None:
    a, b = await start_sessions(garage)
    follower = follow_limits(garage, (a, b))
    try:
        await wait_until(
            lambda: latest_limit(a, "TxProfile") and latest_limit(b, "TxProfile"),
            what="dynamic profiles",
        )
        floor_16 = a.cp.profiles[0]
        assert floor_16["connector_id"] == 0
        body = floor_16["cs_charging_profiles"]
        assert (body["stack_level"], body["charging_profile_purpose"]) == (8, "TxDefaultProfile")
        assert body["charging_schedule"]["charging_rate_unit"] == "A"
        assert "duration" not in body["charging_schedule"]  # the floor never lapses

        tx_16 = next(
            p["cs_charging_profiles"]
            for p in a.cp.profiles
            if p["cs_charging_profiles"]["charging_profile_purpose"] == "TxProfile"
        )
        assert tx_16["transaction_id"] == 1000 or isinstance(tx_16["transaction_id"], int)
        assert tx_16["stack_level"] == 9
        assert tx_16["charging_schedule"]["duration"] == 30

        floor_201 = b.cp.profiles[0]
        assert floor_201["evse_id"] == 0
        assert floor_201["charging_profile"]["charging_profile_purpose"] == "TxDefaultProfile"
        tx_201 = next(
            p
            for p in b.cp.profiles
            if p["charging_profile"]["charging_profile_purpose"] == "TxProfile"
        )
        assert tx_201["evse_id"] == 1
        assert tx_201["charging_profile"]["transaction_id"] == "TX-B"

        # Both sessions share cap - margin - base load = 21 A per phase, fairly.
        await wait_until(
            lambda: (
                (latest_limit(a, "TxProfile") or 0) >= 10
                and (latest_limit(b, "TxProfile") or 0) >= 10
            ),
            timeout_s=10,
            what="the fair share",
        )
        limits = [latest_limit(a, "TxProfile"), latest_limit(b, "TxProfile")]
        assert sum(x or 0 for x in limits) <= 32 - 1 - BASE_LOAD_A
        assert garage.csms.connections["CP-A"].received  # the CSMS saw the charger's traffic ...
        assert not any(  # ... but none of the LC's profiles or their answers
            "SetChargingProfile" in frame for frame in garage.csms.connections["CP-A"].sent
        )
    finally:
        follower.cancel()
        await a.close()
        await b.close()


class BootFirstChargePoint16(ChargePoint16):
    """A 1.6 charger that drops every call from its CSMS until its boot is accepted, as real
    chargers do; what it dropped is kept."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.booted = False
        self.dropped: list[str] = []

    async def route_message(self, raw_msg: str) -> None:
        message = json.loads(raw_msg)
        payload = message[2] if message[0] == 3 else None
        if (
            isinstance(payload, dict)
            and payload.get("status") == "Accepted"
            and "interval" in payload
        ):
            self.booted = True  # the answer to its BootNotification
        if message[0] == 2 and not self.booted:
            self.dropped.append(message[2])
            return
        await super().route_message(raw_msg)


async def test_a_charger_is_set_up_once_its_boot_is_accepted(garage: Garage) -> None:
    charger = await connect_charge_point(
        garage.url, "CP-A", "ocpp1.6", cp_class=BootFirstChargePoint16
    )
    cp = charger.cp
    assert isinstance(cp, BootFirstChargePoint16)
    try:
        await cp.boot()
        await wait_until(lambda: latest_limit(charger, "TxDefaultProfile") == 6, what="its floor")
        assert cp.dropped == []  # the LC asked nothing before the CSMS accepted the boot
        assert cp.handled[:2] == ["GetConfiguration", "SetChargingProfile"]
    finally:
        await charger.close()


class LosesOneCall16(ChargePoint16):
    """A 1.6 charger that loses the first call it gets after its boot (a frame lost on a bad
    link), then answers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lost: list[str] = []

    async def route_message(self, raw_msg: str) -> None:
        message = json.loads(raw_msg)
        if message[0] == 2 and not self.lost:
            self.lost.append(message[2])
            return
        await super().route_message(raw_msg)


async def test_an_unanswered_set_up_is_tried_again(
    make_garage: Callable[..., Awaitable[Garage]],
) -> None:
    garage = await make_garage(balancer={"setup_timeout_s": 0.5, "setup_retry_s": 0.5})
    charger = await connect_charge_point(garage.url, "CP-A", "ocpp1.6", cp_class=LosesOneCall16)
    cp = charger.cp
    assert isinstance(cp, LosesOneCall16)
    try:
        await cp.boot()
        await wait_until(lambda: latest_limit(charger, "TxDefaultProfile") == 6, what="its floor")
        assert cp.lost == ["GetConfiguration"]
        assert cp.handled[:2] == ["GetConfiguration", "SetChargingProfile"]  # asked again
    finally:
        await charger.close()


def daily_pause_profile(pause_from_s: int) -> dict[str, Any]:
    """A 1.6 daily TxDefaultProfile: 32 A, but 0 A for the hour from `pause_from_s` after
    midnight UTC."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    periods = [(0, 32.0), (pause_from_s, 0.0), (pause_from_s + 3600, 32.0)]
    return {
        "charging_profile_id": 42,
        "stack_level": 0,
        "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Recurring",
        "recurrency_kind": "Daily",
        "charging_schedule": {
            "charging_rate_unit": "A",
            "start_schedule": (midnight - timedelta(days=1)).isoformat().replace("+00:00", "Z"),
            "charging_schedule_period": [
                {"start_period": start, "limit": limit} for start, limit in periods
            ],
        },
    }


async def test_a_daily_csms_pause_limits_only_during_its_hour(garage: Garage) -> None:
    a, b = await start_sessions(garage)
    follower = follow_limits(garage, (a, b))
    balancer = garage.lc.balancer
    assert balancer is not None
    try:
        # The pause is twelve hours away from now: the session may charge now.
        now = datetime.now(UTC)
        seconds_today = now.hour * 3600 + now.minute * 60
        pause_from = min((seconds_today + 12 * 3600) % 86400, 86400 - 7200)
        answer = await garage.csms.stations["CP-A"].call(
            call16.SetChargingProfile(
                connector_id=0, cs_charging_profiles=daily_pause_profile(pause_from)
            )
        )
        assert answer.status == "Accepted"
        await wait_until(
            lambda: balancer.model.chargers["CP-A"].csms_profiles, what="the profile observed"
        )
        before = balancer.last_allocation
        await wait_until(lambda: balancer.last_allocation is not before, what="a decision")
        allocation = balancer.last_allocation
        assert allocation is not None
        assert allocation.limits["CP-A/1"] >= 6
        assert "CP-A/1" not in allocation.paused
    finally:
        follower.cancel()
        await a.close()
        await b.close()


def floors(charger: RunningChargePoint) -> int:
    """How many times the charger got the LC's floor (a TxDefaultProfile with its id)."""
    return sum(
        1
        for profile in charger.cp.profiles
        if profile["cs_charging_profiles"]["charging_profile_id"] == 870000
        and profile["cs_charging_profiles"]["charging_profile_purpose"] == "TxDefaultProfile"
    )


@pytest.mark.parametrize(
    "removal",
    [
        call16.ClearChargingProfile(),
        call16.ClearChargingProfile(charging_profile_purpose="TxDefaultProfile", stack_level=8),
        call16.SetChargingProfile(
            connector_id=0,
            cs_charging_profiles={
                "charging_profile_id": 5,
                "stack_level": 8,
                "charging_profile_purpose": "TxDefaultProfile",
                "charging_profile_kind": "Absolute",
                "charging_schedule": {
                    "charging_rate_unit": "A",
                    "charging_schedule_period": [{"start_period": 0, "limit": 32}],
                },
            },
        ),
    ],
    ids=["clear-all", "clear-by-purpose-and-level", "replaced-at-its-level"],
)
async def test_a_floor_the_csms_removes_is_installed_again(garage: Garage, removal: Any) -> None:
    a, b = await start_sessions(garage)
    try:
        assert floors(a) == 1
        await garage.csms.stations["CP-A"].call(removal)
        await wait_until(lambda: floors(a) == 2, what="the floor installed again")
    finally:
        await a.close()
        await b.close()


async def test_a_clear_of_another_profile_leaves_the_floor_alone(garage: Garage) -> None:
    a, b = await start_sessions(garage)
    try:
        await garage.csms.stations["CP-A"].call(call16.ClearChargingProfile(id=5))
        assert garage.lc.balancer is not None
        # The clear was observed: had it matched the floor, set-up would be running again.
        assert isinstance(a.cp, ChargePoint16)
        assert a.cp.cleared == [{"id": 5}]
        assert garage.lc.balancer.set_ups.stage("CP-A") is Stage.DONE
        assert floors(a) == 1
    finally:
        await a.close()
        await b.close()


async def test_stale_meter_gives_safe_currents_and_recovers(garage: Garage) -> None:
    a, b = await start_sessions(garage)
    follower = follow_limits(garage, (a, b))
    try:
        await wait_until(
            lambda: (latest_limit(a, "TxProfile") or 0) > 6, timeout_s=10, what="balancing"
        )
        await garage.meter.stop()
        await wait_until(
            lambda: latest_limit(a, "TxProfile") == 6 and latest_limit(b, "TxProfile") == 6,
            timeout_s=5,
            what="safe currents",
        )
        assert garage.lc.balancer is not None
        assert garage.lc.balancer.metrics.meter_stale._value.get() == 1
        await garage.meter.start()
        await wait_until(
            lambda: (latest_limit(a, "TxProfile") or 0) > 6, timeout_s=10, what="recovery"
        )
        assert garage.lc.balancer.metrics.meter_stale._value.get() == 0
    finally:
        follower.cancel()
        await a.close()
        await b.close()


@dataclass
class DeafCharger:
    """A 1.6 charger that implements no smart charging: every SetChargingProfile gets the
    library's CALLERROR NotImplemented. It has booted and runs a session."""

    cp: BareChargePoint16
    ws: Any
    task: asyncio.Task[None]

    async def close(self) -> None:
        self.task.cancel()
        await self.ws.close()


async def deaf_charger_charging(garage: Garage, identity: str) -> DeafCharger:
    ws = await websockets.connect(
        f"{garage.url}/ocpp/{identity}",
        subprotocols=[Subprotocol("ocpp1.6")],
        open_timeout=5,
    )
    bare = BareChargePoint16(identity, RecordingConnection(ws))
    charger = DeafCharger(bare, ws, asyncio.create_task(bare.start()))
    await bare.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
    await bare.call(
        call16.StartTransaction(connector_id=1, id_tag="T", meter_start=0, timestamp=now_iso())
    )
    return charger


async def test_charger_without_smart_charging_is_planned_at_its_maximum(garage: Garage) -> None:
    a, b = await start_sessions(garage)
    follower = follow_limits(garage, (a, b))
    deaf = await deaf_charger_charging(garage, "CP-C")
    try:
        balancer = garage.lc.balancer
        assert balancer is not None
        await wait_until(lambda: "CP-C/1" in balancer.disobedient, what="CP-C flagged")
        assert balancer.metrics.profiles.labels("error")._value.get() >= 1
        assert balancer.metrics.not_obeying._value.get() >= 1
        # Shown as what it is: no limit of the LC's, planned at its maximum.
        await wait_until(lambda: balancer.unlimited.get("CP-C/1") == 16.0, what="its plan")
        assert limit_shown(garage, "CP-C/1") is None
        shown = balancer_status(balancer).evses["CP-C/1"]  # on the status page
        assert (shown.limit_a, shown.obeys) == (None, False)
        assert shown.reason.endswith("planned at its maximum 16 A")
        # CP-C (unlisted: 16 A max) is budgeted at 16 A, leaving 21 - 16 = 5 A for A and B:
        # less than one car's 6 A minimum, so both are paused.
        await wait_until(
            lambda: (latest_limit(a, "TxProfile") or 0) + (latest_limit(b, "TxProfile") or 0) <= 5,
            timeout_s=5,
            what="the others cut to compensate",
        )
    finally:
        await deaf.close()
        follower.cancel()
        await a.close()
        await b.close()


class ChargingBeforeTheRestart16(ChargePoint16):
    """A 1.6 charger whose session 4711 on connector 1 began before the LC (re)started; asked
    with TriggerMessage, it sends that session's MeterValues."""

    @on("TriggerMessage")
    async def on_trigger(self, requested_message: str, **_: Any) -> Any:
        await self._delay("TriggerMessage")
        return result16.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    async def send_meter_values(self, requested_message: str, **_: Any) -> None:
        if requested_message == "MeterValues":
            await self.call(
                call16.MeterValues(
                    connector_id=1,
                    transaction_id=4711,
                    meter_value=[
                        {
                            "timestamp": now_iso(),
                            "sampledValue": [
                                {"value": "16.0", "measurand": "Current.Import", "phase": phase}
                                for phase in ("L1", "L2", "L3")
                            ],
                        }
                    ],
                )
            )


async def test_a_session_from_before_an_lc_restart_is_taken_back(garage: Garage) -> None:
    charger = await connect_charge_point(
        garage.url, "CP-A", "ocpp1.6", cp_class=ChargingBeforeTheRestart16
    )
    try:
        await charger.cp.boot()
        await wait_until(lambda: latest_limit(charger, "TxDefaultProfile"), what="its floor")
        await charger.cp.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
        )
        await wait_until(
            lambda: any(
                p["cs_charging_profiles"].get("transaction_id") == 4711 for p in charger.cp.profiles
            ),
            what="a TxProfile for session 4711",
        )
        assert "TriggerMessage" in charger.cp.handled  # asked for, not waited for
        assert "4711" in garage.lc.site_view.chargers["CP-A"].sessions  # on the status page
    finally:
        await charger.close()


def limit_shown(garage: Garage, evse: str) -> float | None:
    assert garage.lc.balancer is not None
    registry = garage.lc.balancer.metrics.registry
    value = registry.get_sample_value("ocpp_lc_evse_limit_amperes", {"evse": evse})
    return None if value is None else float(value)


async def test_a_limit_is_shown_only_once_the_charger_accepted_it(garage: Garage) -> None:
    # CP-A never boots and ignores every call: its set-up never gets an answer.
    silent = await connect_charge_point(
        garage.url, "CP-A", "ocpp1.6", cp_class=BootFirstChargePoint16
    )
    b = await connect_charge_point(garage.url, "CP-B", "ocpp2.0.1")
    balancer = garage.lc.balancer
    assert balancer is not None
    try:
        await b.cp.boot()
        await silent.cp.call(
            call16.StartTransaction(connector_id=1, id_tag="T", meter_start=0, timestamp=now_iso())
        )
        await start_201_session(b)
        await wait_until(lambda: latest_limit(b, "TxProfile") is not None, what="B's limit")
        await wait_until(
            lambda: limit_shown(garage, "CP-B/1") == latest_limit(b, "TxProfile"),
            what="B's accepted limit shown",
        )
        # CP-A got nothing: nothing is shown as its limit, and it is planned at its maximum.
        await wait_until(lambda: balancer.unlimited.get("CP-A/1") == 32.0, what="A's plan")
        assert limit_shown(garage, "CP-A/1") is None
        shown = balancer_status(balancer).evses["CP-A/1"]  # on the status page
        assert (shown.limit_a, shown.obeys, shown.set_up) == (None, False, False)
        assert shown.reason == "being set up: planned at its maximum 32 A until then"
    finally:
        await silent.close()
        await b.close()


async def test_a_meter_outage_plans_chargers_refusing_profiles_at_their_maximum(
    make_garage: Callable[..., Awaitable[Garage]],
) -> None:
    chargers = [
        {"identity": "CP-A", "max_current_a": 32, "safe_current_a": 6},
        {"identity": "CP-B", "max_current_a": 32, "safe_current_a": 6},
        {"identity": "CP-C", "max_current_a": 25, "safe_current_a": 6},
    ]
    garage = await make_garage(chargers=chargers)
    a, b = await start_sessions(garage)
    follower = follow_limits(garage, (a, b))
    deaf = [await deaf_charger_charging(garage, "CP-C")]
    balancer = garage.lc.balancer
    assert balancer is not None
    try:
        await wait_until(lambda: "CP-C/1" in balancer.disobedient, what="CP-C flagged")
        await garage.meter.stop()
        await wait_until(lambda: balancer.metrics.meter_stale._value.get() == 1, what="stale")
        before = balancer.last_allocation
        await wait_until(lambda: balancer.last_allocation is not before, what="a decision")
        allocation = balancer.last_allocation
        assert allocation is not None
        # CP-C ignores its limits: 25 A. Of the 31 A the cap and margin leave, 6 A remain:
        # one of A and B gets its 6 A safe current, the other is paused.
        assert allocation.limits["CP-C/1"] == 6.0 and allocation.planned == (31.0, 31.0, 31.0)
        assert sorted((allocation.limits["CP-A/1"], allocation.limits["CP-B/1"])) == [0.0, 6.0]
        assert allocation.over_cap_phases == ()
    finally:
        for charger in deaf:
            await charger.close()
        follower.cancel()
        await a.close()
        await b.close()


async def test_the_csms_priority_of_a_transaction_is_planned_and_shown(garage: Garage) -> None:
    """K03.FR.05/06: the chargingPriority in the CSMS's TransactionEventResponse, for that
    transaction only, on top of the charger's configured priority."""
    garage.csms.charging_priorities["VIP"] = 4
    balancer = garage.lc.balancer
    assert balancer is not None
    b = await connect_charge_point(garage.url, "CP-B", "ocpp2.0.1")
    try:
        await b.cp.boot()
        await wait_until(lambda: latest_limit(b, "TxDefaultProfile"), what="the floor")

        def shown_priority() -> int:
            return balancer_status(balancer).evses["CP-B/1"].priority

        assert shown_priority() == 0
        await b.cp.call(
            call201.TransactionEvent(
                event_type="Started",
                timestamp=now_iso(),
                trigger_reason="Authorized",
                seq_no=0,
                transaction_info={"transactionId": "TX-VIP", "chargingState": "Charging"},
                evse={"id": 1, "connectorId": 1},
                id_token={"idToken": "VIP", "type": "ISO14443"},
            )
        )
        await wait_until(lambda: shown_priority() == 4, what="the priority shown")
        planned = balancer.site_state(0.0, None).evses
        assert [evse.priority for evse in planned if evse.evse_id == "CP-B/1"] == [4]
        await b.cp.call(
            call201.TransactionEvent(
                event_type="Ended",
                timestamp=now_iso(),
                trigger_reason="StopAuthorized",
                seq_no=1,
                transaction_info={"transactionId": "TX-VIP", "stoppedReason": "Local"},
            )
        )
        await wait_until(lambda: shown_priority() == 0, what="the priority gone with it")
    finally:
        await b.close()


async def test_a_panel_fuse_holds_by_its_sub_meter_and_a_stale_one_means_safe_currents(
    make_garage: Callable[..., Awaitable[Garage]],
) -> None:
    sub_meter = SimulatedMeter("eastron_sdm630")
    await sub_meter.start()
    row_base_a = 4.0
    sub_meter.set_reading(currents=(row_base_a,) * 3, voltages=(230.0,) * 3)
    panel = {
        "name": "row-a",
        "fuse_a": 20,
        "chargers": ["CP-A", "CP-B"],
        "meter": {
            "map": "eastron_sdm630",
            "host": "127.0.0.1",
            "port": sub_meter.link.port,
            "timeout_s": 0.2,
            "stale_after_s": 1.0,
        },
    }
    garage = await make_garage(panels=[panel])
    balancer = garage.lc.balancer
    assert balancer is not None
    a, b = await start_sessions(garage)

    async def follow() -> None:  # obedient cars, seen by the site meter and the row's sub-meter
        while True:
            drawn = sum(latest_limit(c, "TxProfile") or 0.0 for c in (a, b))
            garage.meter.set_reading(currents=(BASE_LOAD_A + drawn,) * 3)
            sub_meter.set_reading(currents=(row_base_a + drawn,) * 3)
            await asyncio.sleep(0.05)

    follower = asyncio.create_task(follow())
    try:
        # The site leaves 32 - 1 - 10 = 21 A; the row's fuse only 20 - 1 - 4 = 15 A: 7.5 A each.
        await wait_until(
            lambda: latest_limit(a, "TxProfile") == 7.5 and latest_limit(b, "TxProfile") == 7.5,
            timeout_s=15,
            what="the row's fair share",
        )
        metrics = balancer.metrics
        assert metrics.panel_fuse.labels("row-a", "L2")._value.get() == 20
        assert metrics.panel_headroom.labels("row-a", "L1")._value.get() == 15
        await wait_until(
            lambda: metrics.panel_current.labels("row-a", "L3")._value.get() == 19,
            what="the row's current from its sub-meter",
        )
        assert metrics.seconds_above_fuse.labels("row-a")._value.get() == 0
        follower.cancel()
        sub_meter.set_reading(currents=(21.0,) * 3)  # above the fuse for a moment
        await wait_until(
            lambda: metrics.seconds_above_fuse.labels("row-a")._value.get() > 0,
            what="time above the fuse counted",
        )
        await sub_meter.stop()  # the sub-meter goes silent: the row's sessions on 6 A
        await wait_until(
            lambda: latest_limit(a, "TxProfile") == 6 and latest_limit(b, "TxProfile") == 6,
            timeout_s=15,
            what="safe currents below the stale sub-meter",
        )
        shown = balancer_status(balancer).panels
        assert [(panel.name, panel.current) for panel in shown] == [("row-a", None)]
    finally:
        follower.cancel()
        await a.close()
        await b.close()
        await sub_meter.stop()
