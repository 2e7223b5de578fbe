"""The control loop at its router seam: what it keeps about a charger across reconnects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from balancer.control import LoadBalancer
from balancer.model import evse_key
from lc.config import parse_config
from router import events as ev
from router.frames import OcppVersion
from tests.balancer.test_profiles_through_router import site_toml
from tests.peers import wait_until


class _AnsweringRouter:
    """The router seam for a charger that reconnects: it answers every call Accepted."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def subscribe(self, _handler: Callable[[ev.Event], None]) -> None:
        pass

    async def call(
        self, identity: str, action: str, payload: dict[str, Any], timeout_s: float
    ) -> dict[str, Any]:
        self.calls.append(action)
        return {"status": "Accepted"}


async def test_a_reconnecting_charger_is_no_longer_held_for_disobedient() -> None:
    router = _AnsweringRouter()
    chargers = [
        {"identity": name, "max_current_a": 16, "safe_current_a": 6} for name in ("CP1", "CP2")
    ]
    config = parse_config(site_toml("ws://127.0.0.1:1", 1, chargers=chargers)).balancer
    assert config is not None
    balancer = LoadBalancer(config, router, meter=None)  # type: ignore[arg-type]
    for identity in ("CP1", "CP2"):
        balancer._on_event(ev.ChargerConnected(identity, OcppVersion.V16))
    balancer.disobedient |= {evse_key("CP1", 1), evse_key("CP2", 1)}
    balancer._on_event(ev.ChargerConnected("CP1", OcppVersion.V16))  # rebooted
    assert balancer.disobedient == {evse_key("CP2", 1)}
    await wait_until(lambda: "CP1" in balancer.capabilities, what="CP1 set up again")
    await balancer.stop()
