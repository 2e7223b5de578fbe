"""The control loop at its router seam (subscribe, call): its decisions about one charger."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NoReturn

from balancer.allocate import allocate
from balancer.config import BalancerConfig
from balancer.control import LoadBalancer
from balancer.model import evse_key
from balancer.profiles import ProfileTarget
from balancer.ramp import Commanded
from balancer.setup import Stage
from balancer.site import MeterReading, SessionState
from lc.config import parse_config
from modbus.errors import MeterReadError
from modbus.reader import MeterReader, PolledMeter, PolledReading
from router import events as ev
from router.chargers import ChargerCallTimeout, Chargers
from router.frames import OcppVersion
from supervision.tasks import TASK_FAILURES
from tests.balancer.test_profiles_through_router import site_toml
from tests.peers import wait_until

Answer = Callable[[str, str], dict[str, Any]]  # (identity, action) -> the charger's answer


class SeamRouter:
    """The router as the balancer sees it (`chargers.Chargers`): calls are recorded and
    answered by `answer`."""

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


def _at_seams(
    config: BalancerConfig,
    router: Chargers,
    meter: PolledMeter | None = None,
    clock: Callable[[], float] | None = None,
) -> LoadBalancer:
    """A LoadBalancer on these seams. Without `meter`, a real reader that is never read (the
    test drives the balancer by hand, not its loop)."""
    reader = MeterReader(config.meter.reader) if meter is None else meter
    return LoadBalancer(config, router, reader, clock=clock)


def _balancer(router: Chargers, *identities: str) -> LoadBalancer:
    return _at_seams(_config(*identities), router)


async def test_a_reconnecting_charger_is_no_longer_held_for_disobedient() -> None:
    router = SeamRouter(lambda _identity, _action: {"status": "Accepted"})
    balancer = _balancer(router, "CP1", "CP2")
    for identity in ("CP1", "CP2"):
        balancer._on_event(ev.ChargerConnected(identity, OcppVersion.V16))
    balancer.disobedient.update({evse_key("CP1", 1), evse_key("CP2", 1)})
    balancer._on_event(ev.ChargerConnected("CP1", OcppVersion.V16))  # rebooted
    assert balancer.disobedient == {evse_key("CP2", 1)}
    balancer._on_event(ev.BootNotified("CP1", "Vendor", "Model", None, "Accepted", 300))
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
    await balancer._limits.send_limit(record, target)
    assert router.calls == ["SetChargingProfile"]  # no ClearChargingProfile, no switch
    assert balancer.station_max == set()
    assert balancer.disobedient == set()


def _booted(identity: str, status: str = "Accepted") -> ev.BootNotified:
    return ev.BootNotified(identity, "Vendor", "Model", None, status, 300)


async def test_set_up_waits_for_the_boot_the_csms_accepted() -> None:
    router = SeamRouter(lambda _identity, _action: {"status": "Accepted"})
    balancer = _balancer(router, "CP1")
    balancer._on_event(ev.ChargerConnected("CP1", OcppVersion.V16))
    balancer._on_event(_booted("CP1", "Rejected"))
    balancer._set_up.start_due()  # as every control period does: nothing for a charger not admitted
    assert router.calls == []
    balancer._on_event(_booted("CP1", "Pending"))  # the CSMS may configure it now; so may we
    await wait_until(lambda: balancer.set_ups.stage("CP1") is Stage.DONE, what="set up")
    assert router.calls == ["GetConfiguration", "SetChargingProfile"]
    await balancer.stop()


async def test_a_charger_that_reconnects_without_booting_is_set_up_at_its_first_call() -> None:
    router = SeamRouter(lambda _identity, _action: {"status": "Accepted"})
    balancer = _balancer(router, "CP1")
    balancer._on_event(ev.ChargerConnected("CP1", OcppVersion.V16))
    balancer._set_up.start_due()
    assert router.calls == []
    balancer._on_event(ev.ChargerHeartbeat("CP1"))
    await wait_until(lambda: balancer.set_ups.stage("CP1") is Stage.DONE, what="set up")
    assert router.calls == ["GetConfiguration", "SetChargingProfile"]
    await balancer.stop()


async def test_an_unanswered_set_up_is_tried_again_after_the_retry_time() -> None:
    now = [100.0]
    unanswered = ["GetConfiguration"]  # the first capability query goes unanswered

    def answer(_identity: str, action: str) -> dict[str, Any]:
        if action in unanswered:
            unanswered.remove(action)
            raise ChargerCallTimeout("no answer")
        return {"status": "Accepted"}

    router = SeamRouter(answer)
    config = _config("CP1")
    balancer = _at_seams(config, router, clock=lambda: now[0])
    balancer._on_event(ev.ChargerConnected("CP1", OcppVersion.V16))
    balancer._on_event(_booted("CP1"))
    await wait_until(lambda: balancer.set_ups.stage("CP1") is Stage.READY, what="a failed try")
    assert router.calls == ["GetConfiguration"]
    balancer._set_up.start_due()  # before the retry time: nothing
    assert router.calls == ["GetConfiguration"]
    now[0] += config.loop.setup_retry_s
    balancer._set_up.start_due()
    await wait_until(lambda: balancer.set_ups.stage("CP1") is Stage.DONE, what="set up")
    assert router.calls == ["GetConfiguration", "GetConfiguration", "SetChargingProfile"]
    await balancer.stop()


class FlakyMeter:
    """A meter whose first read raises an unexpected error; later reads find no meter."""

    last_reading: PolledReading | None = None

    def __init__(self) -> None:
        self.reads = 0

    async def read(self) -> NoReturn:
        self.reads += 1
        if self.reads == 1:
            raise RuntimeError("a bug, not a meter fault")
        raise MeterReadError("no meter here")


async def test_the_balancer_keeps_stepping_after_a_step_fails() -> None:
    meter = FlakyMeter()
    config = _config("CP1")
    balancer = _at_seams(config, SeamRouter(lambda _i, _a: {}), meter)
    before = TASK_FAILURES.labels("balancer-step")._value.get()
    running = asyncio.create_task(balancer.run())
    try:
        await wait_until(lambda: meter.reads >= 3, what="later steps")
        await wait_until(lambda: balancer.metrics.last_step._value.get() > 0, what="a good step")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert TASK_FAILURES.labels("balancer-step")._value.get() == before + 1


async def test_a_raise_waits_for_the_cut_that_makes_room_for_it() -> None:
    """The demo's overshoot: one charger cut, another raised in the same period before the cut
    took effect. Cap 32 A - margin 1 A, base load 5 A: the EVSEs may draw 26 A."""
    now = [1_000.0]
    router = SeamRouter(lambda _identity, _action: {"status": "Accepted"})
    overrides = {"reaction_time_s": 10, "raise_fraction": 0.25, "deadband_a": 0.5}
    chargers = [{"identity": name, "max_current_a": 16, "safe_current_a": 6} for name in "AB"]
    config = parse_config(
        site_toml("ws://127.0.0.1:1", 1, chargers=chargers, balancer=overrides)
    ).balancer
    assert config is not None
    balancer = _at_seams(config, router, clock=lambda: now[0])
    for identity in "AB":
        balancer._on_event(ev.ChargerConnected(identity, OcppVersion.V16))
        balancer._on_event(_booted(identity))
    await wait_until(
        lambda: all(balancer.set_ups.stage(identity) is Stage.DONE for identity in "AB"),
        what="both set up",
    )
    for identity, drawn in (("A", 15.0), ("B", 10.0)):
        balancer._on_event(ev.TransactionStarted(identity, f"tx-{identity}", 1, "TAG", 0.0))
        balancer._on_event(ev.MeterSampled(identity, 1, f"tx-{identity}", (drawn,) * 3, None, None))
    balancer._on_event(ev.StatusChanged("A", 1, 1, "SuspendedEV"))  # A's car wants less
    balancer.commanded.update({"A/1": Commanded(15.0, 0.0), "B/1": Commanded(10.0, 0.0)})

    def decide() -> None:
        reading = MeterReading(currents=(30.0, 30.0, 30.0), read_at=now[0])
        state = balancer.site_state(now[0], reading)
        allocation = allocate(state)
        assert allocation.limits == {"A/1": 6.0, "B/1": 16.0}
        balancer._command(allocation, state, now[0], urgent=False)

    decide()
    # A is cut at once; B would rise to 11.5 A, but A may draw 15 A until it reacted: 26.5 A.
    assert (balancer.commanded["A/1"].limit, balancer.commanded["B/1"].limit) == (6.0, 10.0)
    now[0] += 10.0  # A's reaction time has passed
    decide()
    assert (balancer.commanded["A/1"].limit, balancer.commanded["B/1"].limit) == (6.0, 11.5)
    await balancer.stop()


async def test_a_triggered_event_without_evse_is_placed_on_the_one_evse_asked() -> None:
    """After an LC restart, a 2.0.1 charger with two EVSEs reports EVSE 2 occupied; asked, it
    sends its session's TransactionEvent without `evse` (allowed after the first event)."""
    router = SeamRouter(lambda _identity, _action: {"status": "Accepted"})
    chargers = [{"identity": "CP1", "max_current_a": 16, "safe_current_a": 6, "evses": 2}]
    config = parse_config(site_toml("ws://127.0.0.1:1", 1, chargers=chargers)).balancer
    assert config is not None
    now = [1_000.0]
    balancer = _at_seams(config, router, clock=lambda: now[0])
    balancer._on_event(ev.ChargerConnected("CP1", OcppVersion.V201))
    balancer._on_event(_booted("CP1"))
    await wait_until(lambda: balancer.set_ups.stage("CP1") is Stage.DONE, what="set up")
    balancer._on_event(ev.StatusChanged("CP1", 2, 1, "Occupied"))
    balancer._set_up.ask_for_sessions("CP1")  # as every control period does
    assert "TriggerMessage" not in router.calls  # a session starting now is reported soon
    now[0] += config.loop.reaction_time_s + 1  # and nothing was
    balancer._set_up.ask_for_sessions("CP1")
    await wait_until(lambda: "TriggerMessage" in router.calls, what="the charger asked")
    balancer._on_event(ev.TransactionUpdated("CP1", "tx-9", None, "Charging"))
    record = balancer.model.evses["CP1/2"]
    assert (record.transaction_id, record.session) == ("tx-9", SessionState.CHARGING)
    assert balancer.model.evses["CP1/1"].transaction_id is None
    await balancer.stop()
