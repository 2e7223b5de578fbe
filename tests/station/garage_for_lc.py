"""A garage steered through an LC that has its own identity at a PyPI-`ocpp` CSMS: simulated
meter and one 2.0.1 charge point (garage/), its car charging, over real sockets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from balancer.control import LoadBalancer
from garage.charge_point import SimulatedChargePoint
from garage.csms import SimulatedCsms
from garage.site import SimulatedSite
from lc.app import LocalController
from lc.config import parse_config
from modbus.simulator import SimulatedMeter
from station.session import LinkState
from tests.balancer.test_profiles_through_router import site_toml
from tests.peers import wait_until
from tests.station.csms_for_lc import CsmsForLc, station_config

BASE_LOAD_A = 10.0
MARGIN_A = 1.0  # site_toml's
CONFIG_CAP_A = 32.0  # site_toml's, every phase
CHARGER_MAX_A = 16

Stops = list[Callable[[], Any]]


@dataclass
class GarageForLc:
    lc: LocalController
    balancer: LoadBalancer
    charge_point: SimulatedChargePoint
    config: dict[str, Any]  # the LC's, to start it again


async def start_lc(config: dict[str, Any], stops: Stops) -> tuple[LocalController, LoadBalancer]:
    """An LC on `config`, booted and Accepted at its CSMS."""
    lc = LocalController(parse_config(config))
    await lc.start()
    stops.append(lc.stop)
    balancer = lc.balancer
    assert balancer is not None
    await accepted(lc)
    return lc, balancer


async def accepted(lc: LocalController) -> None:
    """Until the CSMS has Accepted the LC's boot."""
    station = lc.station
    assert station is not None
    await wait_until(lambda: station.session.state is LinkState.ACCEPTED, 10, "Accepted")


async def metered_config(
    csms: CsmsForLc,
    stops: Stops,
    state_folder: Path,
    meter: SimulatedMeter | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """The config of an LC with its own identity at `csms` and a simulated meter (started
    here), no charger connected; `sections` are added to it."""
    meter = meter or SimulatedMeter("eastron_sdm630")
    await meter.start()
    stops.append(meter.stop)
    return site_toml(f"ws://127.0.0.1:{csms.port}", meter.link.port) | {
        "station": station_config(csms, state_folder)["station"],
        **sections,
    }


async def charging_garage(
    csms: CsmsForLc,
    stops: Stops,
    state_folder: Path,
    sections: dict[str, Any] | None = None,
    **station: Any,
) -> GarageForLc:
    """The garage with its car charging at the charger's maximum (the config cap leaves room);
    `sections` add to the LC's config, `station` to its [station] table."""
    chargers_csms = SimulatedCsms()
    await chargers_csms.start()
    stops.append(chargers_csms.stop)
    meter = SimulatedMeter("eastron_sdm630")
    await meter.start()
    stops.append(meter.stop)
    config = site_toml(
        chargers_csms.url,
        meter.link.port,
        balancer={"raise_fraction": 1.0},
        chargers=[{"identity": "CP-1", "max_current_a": CHARGER_MAX_A, "safe_current_a": 6}],
    ) | {"station": station_config(csms, state_folder, **station)["station"], **(sections or {})}
    lc, balancer = await start_lc(config, stops)
    charge_point = await charging_car(lc, [(meter, BASE_LOAD_A)], stops)
    return GarageForLc(lc, balancer, charge_point, config)


def steady(amps: float, _elapsed_s: float) -> tuple[float, float, float]:
    return amps, amps, amps


async def charging_car(
    lc: LocalController, meters: Sequence[tuple[SimulatedMeter, float]], stops: Stops
) -> SimulatedChargePoint:
    """Charger CP-1 at `lc`'s router, its car charging at the charger's maximum; each meter
    measures it on top of a steady load (A per phase)."""
    charge_point = SimulatedChargePoint(
        f"ws://127.0.0.1:{lc.router.port}",
        "CP-1",
        version="2.0.1",
        hardware_max_current_a=CHARGER_MAX_A,
        reaction_delay_s=0.1,
        meter_interval_s=0.2,
        reconnect_delay_s=0.1,
    )
    for meter, base_a in meters:
        site = SimulatedSite(meter, [(charge_point, (1, 2, 3))], partial(steady, base_a))
        await site.start()
        stops.append(site.stop)
    await charge_point.connect()
    stops.append(charge_point.close)
    await charge_point.plug_in(32)
    await wait_until(
        lambda: charge_point.limit == CHARGER_MAX_A, 20, "the car at its charger's maximum"
    )
    return charge_point


async def next_period(balancer: LoadBalancer) -> None:
    before = balancer.last_allocation
    await wait_until(lambda: balancer.last_allocation is not before, 10, "the next period")


class LcRunner:
    """Starts LCs and stops each once: by the test (a restart) or at teardown."""

    def __init__(self) -> None:
        self.running: list[LocalController] = []

    async def start(self, config: dict[str, Any]) -> LocalController:
        lc = LocalController(parse_config(config))
        await lc.start()
        self.running.append(lc)
        return lc

    async def stop(self, lc: LocalController) -> None:
        self.running.remove(lc)
        # An LC stopped in the middle of its balancer's first meter read may never stop (a
        # cancellation lost in the read): stop it once that read is done.
        balancer = lc.balancer
        assert balancer is not None
        await wait_until(lambda: balancer.last_allocation is not None, 10, "a control step")
        await lc.stop()
