"""The control loop at its router seam (subscribe, call): its decisions about one charger."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from balancer.config import BalancerConfig
from balancer.control import LoadBalancer
from balancer.model import evse_key
from balancer.profiles import ProfileTarget
from lc.config import parse_config
from modbus.reader import MeterReader
from router import events as ev
from router.frames import OcppVersion
from router.server import Router
from tests.balancer.test_profiles_through_router import site_toml
from tests.peers import wait_until

Answer = Callable[[str, str], dict[str, Any]]  # (identity, action) -> the charger's answer


class ChargerSeam(Protocol):
    """All the balancer uses of the router: its events, and calls to a charger."""

    def subscribe(self, callback: Callable[[ev.Event], None], /) -> None: ...

    async def call(
        self, identity: str, action: str, payload: dict[str, Any], timeout_s: float | None = None
    ) -> dict[str, Any]: ...


if TYPE_CHECKING:
    _ROUTER_IS_A_SEAM: type[ChargerSeam] = Router


class SeamRouter:
    """The router as the balancer sees it: calls are recorded and answered by `answer`."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.calls: list[str] = []

    def subscribe(self, _handler: Callable[[ev.Event], None]) -> None:
        pass

    async def call(
        self, identity: str, action: str, payload: dict[str, Any], timeout_s: float | None = None
    ) -> dict[str, Any]:
        self.calls.append(action)
        return self.answer(identity, action)


def _config(*identities: str) -> BalancerConfig:
    chargers = [{"identity": name, "max_current_a": 16, "safe_current_a": 6} for name in identities]
    config = parse_config(site_toml("ws://127.0.0.1:1", 1, chargers=chargers)).balancer
    assert config is not None
    return config


def _balancer(router: ChargerSeam, *identities: str) -> LoadBalancer:
    config = _config(*identities)
    # LoadBalancer asks for the concrete Router though it uses only the seam above: the one cast
    # here goes once the balancer takes a ChargerSeam.
    # The meter is never read: these tests drive the balancer by hand, not its control loop.
    return LoadBalancer(config, cast(Router, router), MeterReader(config.meter.reader))


async def test_a_reconnecting_charger_is_no_longer_held_for_disobedient() -> None:
    router = SeamRouter(lambda _identity, _action: {"status": "Accepted"})
    balancer = _balancer(router, "CP1", "CP2")
    for identity in ("CP1", "CP2"):
        balancer._on_event(ev.ChargerConnected(identity, OcppVersion.V16))
    balancer.disobedient |= {evse_key("CP1", 1), evse_key("CP2", 1)}
    balancer._on_event(ev.ChargerConnected("CP1", OcppVersion.V16))  # rebooted
    assert balancer.disobedient == {evse_key("CP2", 1)}
    await wait_until(lambda: "CP1" in balancer.capabilities, what="CP1 set up again")
    await balancer.stop()


async def test_a_tx_profile_refused_after_its_session_ended_switches_nothing() -> None:
    """The session ends while its TxProfile is on its way, and the charger refuses the profile,
    as a TxProfile without its transaction must be: no switch to the charger maximum."""

    def end_then_refuse(identity: str, _action: str) -> dict[str, Any]:
        balancer.model.handle(ev.TransactionEnded(identity, "7", 1, None, "Local"))
        return {"status": "Rejected"}

    router = SeamRouter(end_then_refuse)
    balancer = _balancer(router, "CP1")
    balancer.model.handle(ev.ChargerConnected("CP1", OcppVersion.V16))
    balancer.model.handle(ev.TransactionStarted("CP1", "7", 1, "TAG", 0.0))
    record = balancer.model.evses[evse_key("CP1", 1)]
    target = ProfileTarget(1, 870001, 9, 16.0, 3, transaction_id="7", duration_s=60)
    await balancer._send_limit(record, target)
    assert router.calls == ["SetChargingProfile"]  # no ClearChargingProfile, no switch
    assert balancer.station_max == set()
    assert balancer.disobedient == set()
