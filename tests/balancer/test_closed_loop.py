"""Closed loop: the LC balances simulated chargers (PyPI `ocpp`, 1.6 and 2.0.1) whose cars follow
their composite limit after a delay, measured by a pymodbus meter at the grid connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from garage.charge_point import SimulatedChargePoint
from garage.csms import SimulatedCsms
from garage.site import SimulatedSite
from lc.app import LocalController
from lc.config import load_config
from modbus.simulator import SimulatedMeter
from tests.peers import wait_until

pytestmark = pytest.mark.timeout(60)

PERIOD_S = 0.5  # the LC's control period = meter poll period
ACTUATION_S = 0.5  # how long a simulated car takes to follow a new limit
CAP_A = 50.0
MARGIN_A = 1.0

Phases = tuple[float, float, float]


@dataclass
class Garage:
    csms: SimulatedCsms
    meter: SimulatedMeter
    lc: LocalController
    site: SimulatedSite
    chargers: dict[str, SimulatedChargePoint]
    base: list[float]
    config_path: Path


CHARGERS: list[tuple[str, Literal["1.6", "2.0.1"], int, dict[str, Any]]] = [
    ("CP-P", "1.6", 1, {}),
    ("CP-1", "2.0.1", 0, {}),
    ("CP-2", "1.6", 0, {}),
    ("CP-3", "2.0.1", 0, {}),
]


def _toml(
    csms_url: str,
    meter_port: int,
    cap: float,
    chargers: list[str],
    safe_a: float = 0,
    profile_duration_s: float = 30,
) -> str:
    listed = "\n".join(
        f'[[chargers]]\nidentity = "{identity}"\nmax_current_a = 16\n'
        f"safe_current_a = {safe_a}\npriority = {priority}\n"
        for identity, _version, priority, _options in CHARGERS
        if identity in chargers
    )
    return f"""
[router]
upstream_url = "{csms_url}"
listen_host = "127.0.0.1"
listen_port = 0
connection_loss = "close"
[metrics]
listen_port = 0
[site]
phase_cap_a = {cap}
margin_a = {MARGIN_A}
[meter]
map = "carlo_gavazzi_em24"
host = "127.0.0.1"
port = {meter_port}
timeout_s = 0.3
stale_after_s = 1.5
[balancer]
period_s = {PERIOD_S}
reaction_time_s = {ACTUATION_S + 2 * PERIOD_S}
raise_fraction = 0.5
deadband_a = 0.5
profile_duration_s = {profile_duration_s}
refresh_s = {profile_duration_s / 3}
call_timeout_s = 2
measurement_max_age_s = 2
{listed}
"""


async def _start_garage(
    tmp_path: Path, options: dict[str, dict[str, Any]], **site: float
) -> Garage:
    csms = SimulatedCsms()
    await csms.start()
    meter = SimulatedMeter("carlo_gavazzi_em24")
    await meter.start()
    config_path = tmp_path / "site.toml"
    identities = [identity for identity, *_ in CHARGERS]
    config_path.write_text(_toml(csms.url, meter.link.port, CAP_A, identities, **site))
    lc = LocalController(load_config(config_path), config_path)
    await lc.start()
    url = f"ws://127.0.0.1:{lc.router.port}"
    chargers = {
        identity: SimulatedChargePoint(
            url,
            identity,
            version=version,
            hardware_max_current_a=16,
            reaction_delay_s=ACTUATION_S,
            meter_interval_s=PERIOD_S,
            reconnect_delay_s=0.1,
            **options.get(identity, {}),
        )
        for identity, version, _priority, _options in CHARGERS
    }
    base = [10.0, 10.0, 10.0]
    simulated_site = SimulatedSite(
        meter, [(cp, (1, 2, 3)) for cp in chargers.values()], lambda _t: (base[0], base[1], base[2])
    )
    await simulated_site.start()
    for cp in chargers.values():
        await cp.connect()
    return Garage(csms, meter, lc, simulated_site, chargers, base, config_path)


async def _stop_garage(garage: Garage) -> None:
    for cp in garage.chargers.values():
        await cp.close()
    await garage.site.stop()
    await garage.lc.stop()
    await garage.meter.stop()
    await garage.csms.stop()


@pytest.fixture
async def make_garage(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    started: list[Garage] = []

    async def make(site: dict[str, float] | None = None, **options: dict[str, Any]) -> Garage:
        garage = await _start_garage(tmp_path, options, **(site or {}))
        started.append(garage)
        return garage

    yield make
    for garage in started:
        await _stop_garage(garage)


def _limits(garage: Garage) -> dict[str, float]:
    return {identity: cp.limit or 0.0 for identity, cp in garage.chargers.items()}


def _draws(garage: Garage) -> dict[str, float]:
    return {identity: max(cp.phase_currents()) for identity, cp in garage.chargers.items()}


async def _settled(garage: Garage, what: str, timeout_s: float = 20.0) -> None:
    """Wait until no limit changed for three control periods."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    previous, stable_since = _limits(garage), loop.time()
    while loop.time() - stable_since < 3 * PERIOD_S + ACTUATION_S:
        if loop.time() > deadline:
            raise AssertionError(f"not settled: {what}: {_limits(garage)}")
        await asyncio.sleep(0.1)
        current = _limits(garage)
        if current != previous:
            previous, stable_since = current, loop.time()


async def _cars_followed(garage: Garage, budget_a: float, what: str) -> float:
    """Wait until the limits fit `budget_a` (every car uses three phases) and every car draws at
    most its limit; the time.monotonic() at which that was seen."""

    def followed() -> bool:
        limits, draws = _limits(garage), _draws(garage)
        within = sum(limits.values()) <= budget_a + 0.01
        return within and all(draws[identity] <= limits[identity] + 0.01 for identity in limits)

    await wait_until(followed, timeout_s=20, what=what)
    return time.monotonic()


async def _site_samples_since(garage: Garage, since: float) -> list[float]:
    """The highest phase current of every site sample taken after `since`, once there is one."""
    await wait_until(lambda: garage.site.history[-1].at > since, what="a site sample")
    return [max(sample.currents) for sample in garage.site.history if sample.at > since]


async def test_priority_fair_share_and_a_base_load_step(make_garage: Callable[..., Any]) -> None:
    garage: Garage = await make_garage()
    for cp in garage.chargers.values():
        await cp.plug_in(32, phases=3)
    await _settled(garage, "four sessions sharing 50 - 1 - 10 = 39 A")

    limits = _limits(garage)
    assert limits["CP-P"] == 16  # the priority session gets its maximum first
    others = [limits[i] for i in ("CP-1", "CP-2", "CP-3")]
    assert sum(others) <= CAP_A - MARGIN_A - 10 - 16 + 0.01
    assert max(others) - min(others) <= 0.5  # 23 A shared fairly: ~7.6 A each
    assert min(others) >= 6

    # A 12 A step of base load: the balancer's first decision that measures it cuts at once, the
    # site is above the cap only until the cars follow the cut, and never by more than the step.
    balancer = garage.lc.balancer
    assert balancer is not None
    step_at, step_at_loop = time.monotonic(), asyncio.get_running_loop().time()
    garage.base[:] = [22.0, 22.0, 22.0]
    followed_at = await _cars_followed(garage, CAP_A - MARGIN_A - 22, "the cars following the cut")
    assert max(await _site_samples_since(garage, followed_at)) <= CAP_A
    await _settled(garage, "after the step")
    decisions = balancer.history.samples()
    before = [d for d in decisions if d.at < step_at_loop][-1]
    seeing = next(
        d for d in decisions if d.at >= step_at_loop and d.currents and max(d.currents) > CAP_A
    )
    assert max(seeing.planned) < max(before.planned)  # the decision that saw it cut
    worst = max(max(sample.currents) for sample in garage.site.history if sample.at >= step_at)
    assert worst - CAP_A <= 12
    limits = _limits(garage)
    assert limits["CP-P"] == 16  # the priority session keeps its current
    # 50 - 1 - 22 - 16 = 11 A for three cars: one can charge, two are paused.
    assert sorted(limits[i] for i in ("CP-1", "CP-2", "CP-3"))[:2] == [0.0, 0.0]
    recent = [s for s in garage.site.history if s.at >= time.monotonic() - 1]
    assert max(max(s.currents) for s in recent) <= CAP_A - MARGIN_A + 0.1


async def test_cap_lowered_in_the_file_applies_within_a_period_without_dropping_links(
    make_garage: Callable[..., Any],
) -> None:
    garage: Garage = await make_garage()
    for cp in garage.chargers.values():
        await cp.plug_in(32, phases=3)
    await _settled(garage, "initial share")
    connects = {identity: cp.connects for identity, cp in garage.chargers.items()}

    identities = list(garage.chargers)
    garage.config_path.write_text(_toml(garage.csms.url, garage.meter.link.port, 35.0, identities))
    balancer = garage.lc.balancer
    assert balancer is not None
    await garage.lc.reload()
    reloaded_at = asyncio.get_running_loop().time()
    # Within one control period: the balancer's first decision after the reload plans under it.
    await wait_until(
        lambda: balancer.history.samples()[-1].at >= reloaded_at, what="a decision after reload"
    )
    first = next(d for d in balancer.history.samples() if d.at >= reloaded_at)
    assert first.caps == (35.0, 35.0, 35.0)
    assert max(first.planned) <= 35 - MARGIN_A - 10 + 0.01
    followed_at = await _cars_followed(garage, 35 - MARGIN_A - 10, "limits under the new cap")
    assert max(await _site_samples_since(garage, followed_at)) <= 35
    assert {identity: cp.connects for identity, cp in garage.chargers.items()} == connects
    assert all(cp.connected for cp in garage.chargers.values())


async def test_charger_ignoring_its_profile_is_flagged_and_others_compensate(
    make_garage: Callable[..., Any],
) -> None:
    garage: Garage = await make_garage(**{"CP-3": {"obeys_profiles": False}})
    for cp in garage.chargers.values():
        await cp.plug_in(32, phases=3)
    balancer = garage.lc.balancer
    assert balancer is not None
    await wait_until(lambda: "CP-3/1" in balancer.disobedient, timeout_s=15, what="CP-3 flagged")
    await _settled(garage, "compensated")
    draws = _draws(garage)
    assert draws["CP-3"] == 16  # it keeps drawing its maximum
    assert sum(draws.values()) <= CAP_A - MARGIN_A - 10 + 0.01  # the others made room for it
    assert balancer.metrics.not_obeying._value.get() == 1


async def test_not_implemented_charger_is_planned_at_its_maximum(
    make_garage: Callable[..., Any],
) -> None:
    garage: Garage = await make_garage(**{"CP-2": {"smart_charging": "notimplemented"}})
    for cp in garage.chargers.values():
        await cp.plug_in(32, phases=3)
    balancer = garage.lc.balancer
    assert balancer is not None
    await wait_until(lambda: "CP-2/1" in balancer.disobedient, timeout_s=10, what="CP-2 flagged")
    await _settled(garage, "planned around CP-2")
    draws = _draws(garage)
    assert draws["CP-2"] == 16
    assert sum(draws.values()) <= CAP_A - MARGIN_A - 10 + 0.01


async def test_meter_unplugged_gives_safe_currents_then_recovers(
    make_garage: Callable[..., Any],
) -> None:
    garage: Garage = await make_garage()
    for cp in garage.chargers.values():
        await cp.plug_in(32, phases=3)
    await _settled(garage, "balancing")
    await garage.meter.stop()
    unplugged_at = asyncio.get_running_loop().time()
    # safe_current_a = 0 for every charger here: all sessions paused once the meter is stale.
    await wait_until(
        lambda: all(limit == 0 for limit in _limits(garage).values()),
        timeout_s=5,
        what="safe currents",
    )
    assert asyncio.get_running_loop().time() - unplugged_at <= 1.5 + 2 * PERIOD_S + 1
    await garage.meter.start()
    await wait_until(
        lambda: sum(_limits(garage).values()) > 20, timeout_s=15, what="balancing again"
    )


async def test_chargers_fall_back_to_their_floor_when_the_lc_dies(
    make_garage: Callable[..., Any],
) -> None:
    garage: Garage = await make_garage(site={"safe_a": 6, "profile_duration_s": 3})
    for cp in garage.chargers.values():
        await cp.plug_in(32, phases=3)
    await _settled(garage, "balancing")
    assert _limits(garage)["CP-P"] == 16  # above its floor while the LC steers it
    await garage.lc.stop()
    # No more refreshes: each bounded TxProfile lapses and the floor TxDefaultProfile rules.
    await wait_until(
        lambda: all(limit == 6 for limit in _limits(garage).values()),
        timeout_s=3 + 2,
        what="every charger on its 6 A floor",
    )
