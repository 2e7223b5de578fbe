"""Chargers that refuse Tx profiles (simulated, PyPI `ocpp`, 1.6 and 2.0.1) behind a running LC:
the balancer limits a charger with one EVSE through its charger maximum profile instead, and its
composite limit follows the allocation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from balancer.control import LoadBalancer
from garage.charge_point import SimulatedChargePoint
from garage.csms import SimulatedCsms
from garage.profile_store import ChargePointVersion, SmartChargingCapabilities
from garage.site import SimulatedSite
from lc.app import LocalController
from lc.config import parse_config
from modbus.simulator import SimulatedMeter
from ocpp_knowledge.profiles import ChargingProfile, Purpose
from tests.balancer.test_profiles_through_router import site_toml
from tests.peers import wait_until

pytestmark = pytest.mark.timeout(30)

VERSIONS: list[ChargePointVersion] = ["1.6", "2.0.1"]
BASE_LOAD_A = 10.0
HEADROOM_A = 32 - 1 - BASE_LOAD_A  # cap - margin - base load
PROFILE_ID_BASE = 870000
PROFILE_DURATION_S = 2
# A charger that keeps its TxDefaultProfile floor but refuses every TxProfile.
TX_DEFAULT_ONLY = SmartChargingCapabilities(purposes=(Purpose.STATION_MAX, Purpose.TX_DEFAULT))


@dataclass
class Garage:
    lc: LocalController
    chargers: dict[str, SimulatedChargePoint]

    @property
    def balancer(self) -> LoadBalancer:
        assert self.lc.balancer is not None
        return self.lc.balancer


def _config(csms_url: str, meter_port: int, chargers: dict[str, int]) -> dict[str, Any]:
    """The LC's site: these chargers (identity: EVSEs), short bounded profiles."""
    return site_toml(
        csms_url,
        meter_port,
        balancer={"raise_fraction": 1.0, "profile_duration_s": PROFILE_DURATION_S, "refresh_s": 1},
        chargers=[
            {"identity": identity, "max_current_a": 16, "safe_current_a": 6, "evses": evses}
            for identity, evses in chargers.items()
        ],
    )


@pytest.fixture
async def make_garage() -> AsyncIterator[Callable[..., Any]]:
    """`make_garage(version, identity=options, ...)`: the LC with these simulated chargers, all
    of `version`, connected; options may hold `evses` (what the LC is told) and charger knobs."""
    stack: list[Callable[[], Any]] = []

    async def make(version: ChargePointVersion, **chargers: dict[str, Any]) -> Garage:
        csms = SimulatedCsms()
        await csms.start()
        stack.append(csms.stop)
        meter = SimulatedMeter("eastron_sdm630")
        await meter.start()
        stack.append(meter.stop)
        evses = {identity: options.pop("evses", 1) for identity, options in chargers.items()}
        lc = LocalController(parse_config(_config(csms.url, meter.link.port, evses)))
        await lc.start()
        stack.append(lc.stop)
        url = f"ws://127.0.0.1:{lc.router.port}"
        charge_points = {
            identity: SimulatedChargePoint(
                url,
                identity,
                version=version,
                hardware_max_current_a=16,
                reaction_delay_s=0.1,
                meter_interval_s=0.2,
                reconnect_delay_s=0.1,
                **options,
            )
            for identity, options in chargers.items()
        }
        site = SimulatedSite(
            meter, [(cp, (1, 2, 3)) for cp in charge_points.values()], lambda _t: (BASE_LOAD_A,) * 3
        )
        await site.start()
        stack.append(site.stop)
        for cp in charge_points.values():
            await cp.connect()
            stack.append(cp.close)
        return Garage(lc, charge_points)

    yield make
    for stop in reversed(stack):
        await stop()


def _installed(cp: SimulatedChargePoint) -> list[tuple[Purpose, int, int, int, int | None]]:
    """(purpose, connector, profile id, stack level, duration) of each profile, by id."""

    def row(p: ChargingProfile) -> tuple[Purpose, int, int, int, int | None]:
        return (p.purpose, p.connector_id, p.profile_id, p.stack_level, p.schedule.duration_s)

    return sorted((row(p) for p in cp.profiles), key=lambda r: r[2])


STATION_MAX_PROFILES = [
    (Purpose.STATION_MAX, 0, PROFILE_ID_BASE, 8, None),
    (Purpose.STATION_MAX, 0, PROFILE_ID_BASE + 1, 9, PROFILE_DURATION_S),
]


def _follows_its_allocation(garage: Garage, identity: str) -> bool:
    command = garage.balancer.commanded.get(f"{identity}/1")
    return command is not None and garage.chargers[identity].limit == command.limit


@pytest.mark.parametrize("version", VERSIONS)
async def test_charger_refusing_tx_profiles_is_limited_through_its_charger_maximum(
    make_garage: Callable[..., Any], version: ChargePointVersion
) -> None:
    garage: Garage = await make_garage(
        version,
        **{
            "CP-S": {"smart_charging": "station_max_only"},
            "CP-N": {},
            "CP-M": {"smart_charging": "station_max_only", "evses": 2},
        },
    )
    balancer = garage.balancer
    station, normal = garage.chargers["CP-S"], garage.chargers["CP-N"]
    await wait_until(lambda: balancer.station_max == {"CP-S"}, what="CP-S switched")
    assert station.rejections == ["tx default profiles not supported"]
    assert _installed(station) == STATION_MAX_PROFILES[:1]  # its floor, at its safe current
    assert station.limit == 6
    assert balancer.metrics.station_max_chargers._value.get() == 1
    # A charger with two EVSEs cannot be limited per EVSE through its maximum: as before.
    await wait_until(lambda: "CP-M/1" in balancer.disobedient, what="CP-M planned at its maximum")

    await station.plug_in(32)
    await wait_until(lambda: station.limit == 16, what="CP-S alone at its maximum")
    assert _installed(station) == STATION_MAX_PROFILES
    # A second car arrives: the two share the headroom, and CP-S's charger maximum follows.
    await normal.plug_in(32)
    await wait_until(
        lambda: (station.limit or 0) <= HEADROOM_A / 2 and _follows_its_allocation(garage, "CP-S"),
        what="CP-S cut to its share",
    )
    assert "CP-S/1" not in balancer.disobedient
    assert station.rejections == ["tx default profiles not supported"]  # no Tx profile since

    # The LC dies: the bounded maximum lapses and the floor holds CP-S at its safe current.
    await garage.lc.stop()
    await wait_until(
        lambda: station.limit == 6, timeout_s=PROFILE_DURATION_S + 1, what="CP-S on its floor"
    )


@pytest.mark.parametrize("version", VERSIONS)
async def test_refused_tx_profile_clears_the_accepted_floor_and_switches(
    make_garage: Callable[..., Any], version: ChargePointVersion
) -> None:
    garage: Garage = await make_garage(version, **{"CP-T": {"capabilities": TX_DEFAULT_ONLY}})
    balancer = garage.balancer
    charger = garage.chargers["CP-T"]
    await wait_until(lambda: charger.profiles, what="the floor")
    assert _installed(charger) == [(Purpose.TX_DEFAULT, 0, PROFILE_ID_BASE, 8, None)]
    assert balancer.station_max == set()

    await charger.plug_in(32)
    await wait_until(lambda: charger.limit == 16, what="CP-T at its maximum")
    clear = {"id": PROFILE_ID_BASE} if version == "1.6" else {"chargingProfileId": PROFILE_ID_BASE}
    assert charger.log.payloads("ClearChargingProfile") == [clear]
    assert _installed(charger) == STATION_MAX_PROFILES  # the TxDefaultProfile floor is gone
    assert charger.rejections == ["tx profiles not supported"]
    assert balancer.station_max == {"CP-T"}
    assert "CP-T/1" not in balancer.disobedient
    assert _follows_its_allocation(garage, "CP-T")
