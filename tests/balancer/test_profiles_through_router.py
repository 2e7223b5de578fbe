"""The load balancer inside a running LC: PyPI-`ocpp` charge points (1.6 and 2.0.1) behind the
router, a pymodbus simulated meter, and the profiles the balancer sends, checked on the wire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import websockets
from ocpp.v16 import ChargePoint as BareChargePoint16
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.typing import Subprotocol

from lc.app import LocalController
from lc.config import parse_config
from modbus.simulator import SimulatedMeter
from tests.peers import (
    Csms,
    RecordingConnection,
    RunningChargePoint,
    connect_charge_point,
    now_iso,
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
async def garage() -> AsyncIterator[Garage]:
    csms = Csms()
    await csms.start()
    meter = SimulatedMeter("eastron_sdm630")
    await meter.start()
    meter.set_reading(currents=(BASE_LOAD_A,) * 3, voltages=(230.0,) * 3)
    lc = LocalController(parse_config(site_toml(csms.url, meter.link.port)))
    await lc.start()
    yield Garage(csms, meter, lc)
    await lc.stop()
    await meter.stop()
    await csms.stop()


def latest_limit(charger: RunningChargePoint, purpose: str) -> float | None:
    """The limit of the last profile of `purpose` the charger got (profiles in snake_case)."""
    for profile in reversed(charger.cp.profiles):
        body = profile.get("cs_charging_profiles") or profile["charging_profile"]
        if body["charging_profile_purpose"] == purpose:
            schedule = body["charging_schedule"]
            schedule = schedule[0] if isinstance(schedule, list) else schedule
            return float(schedule["charging_schedule_period"][0]["limit"])
    return None


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
    await b.cp.call(
        call201.TransactionEvent(
            event_type="Started",
            timestamp=now_iso(),
            trigger_reason="Authorized",
            seq_no=0,
            transaction_info={"transactionId": "TX-B", "chargingState": "Charging"},
            evse={"id": 1, "connectorId": 1},
        )
    )
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


async def test_charger_without_smart_charging_is_planned_at_its_maximum(garage: Garage) -> None:
    a, b = await start_sessions(garage)
    follower = follow_limits(garage, (a, b))
    # A 1.6 charger that implements no smart charging: every SetChargingProfile gets the
    # library's CALLERROR NotImplemented.
    ws = await websockets.connect(
        f"{garage.url}/ocpp/CP-C",
        subprotocols=[Subprotocol("ocpp1.6")],
        open_timeout=5,
    )
    bare = BareChargePoint16("CP-C", RecordingConnection(ws))
    task = asyncio.create_task(bare.start())
    try:
        await bare.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        await bare.call(
            call16.StartTransaction(connector_id=1, id_tag="T", meter_start=0, timestamp=now_iso())
        )
        balancer = garage.lc.balancer
        assert balancer is not None
        await wait_until(lambda: "CP-C/1" in balancer.disobedient, what="CP-C flagged")
        assert balancer.metrics.profiles.labels("error")._value.get() >= 1
        assert balancer.metrics.not_obeying._value.get() >= 1
        # CP-C (unlisted: 16 A max) is budgeted at 16 A, leaving 21 - 16 = 5 A for A and B:
        # less than one car's 6 A minimum, so both are paused.
        await wait_until(
            lambda: (latest_limit(a, "TxProfile") or 0) + (latest_limit(b, "TxProfile") or 0) <= 5,
            timeout_s=5,
            what="the others cut to compensate",
        )
    finally:
        task.cancel()
        await ws.close()
        follower.cancel()
        await a.close()
        await b.close()
