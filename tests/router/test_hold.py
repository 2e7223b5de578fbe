"""Offline `hold`: the CSMS goes away and comes back; chargers stay connected, nothing is lost.

Independent peers: the PyPI `ocpp` CSMS and charge points (1.6 and 2.0.1), over real sockets.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from router import events as ev
from router.journal import Journal
from router.offline import OfflineSettings
from router.server import Router
from router.settings import HoldSettings, RouterSettings
from tests.peers import (
    ChargePoint16,
    ChargePoint201,
    Csms,
    RunningChargePoint,
    basic_auth,
    connect_charge_point,
    now_iso,
    wait_until,
    wait_until_async,
)

pytestmark = pytest.mark.timeout(90)

TRANSACTION_ACTIONS = {"StartTransaction", "StopTransaction", "MeterValues", "TransactionEvent"}


def transaction_frames(frames: list[str]) -> list[str]:
    """The transaction-related CALLs among `frames` (1.6 meter values only with a transaction)."""
    found = []
    for frame in frames:
        message = json.loads(frame)
        if message[0] != 2 or message[2] not in TRANSACTION_ACTIONS:
            continue
        if message[2] == "MeterValues" and "transactionId" not in message[3]:
            continue
        found.append(frame)
    return found


def ids(frames: list[str]) -> list[str]:
    return [json.loads(frame)[1] for frame in frames]


@pytest.fixture
async def hold_router(tmp_path: Path) -> AsyncIterator[tuple[Csms, Router]]:
    csms = Csms(passwords={f"CP{n:02d}": f"pw{n}" for n in range(40)})
    await csms.start()
    router = Router(
        RouterSettings(
            upstream_url=csms.url,
            listen_port=0,
            ping_interval_s=2,
            hold=HoldSettings(
                tmp_path / "journal.sqlite",
                OfflineSettings(local_list=frozenset({"LOCAL"}), redial_interval_s=0.1),
            ),
        )
    )
    await router.start()
    yield csms, router
    await router.stop()
    await csms.stop()


async def connect(router: Router, n: int, version: str, password: str | None = None) -> Any:
    return await connect_charge_point(
        f"ws://127.0.0.1:{router.port}", f"CP{n:02d}", version, password=password or f"pw{n}"
    )


def meter_value(amps: float | str) -> list[dict[str, Any]]:
    """1.6 writes sampled values as strings, 2.0.1 as numbers."""
    return [
        {
            "timestamp": now_iso(),
            "sampledValue": [{"value": amps, "measurand": "Current.Import", "phase": "L1"}],
        }
    ]


class Session16:
    def __init__(self, charger: RunningChargePoint) -> None:
        self.charger = charger
        self.transaction_id: int | None = None

    async def start(self, tag: str = "TAG") -> str:
        answer = await self.charger.cp.call(
            call16.StartTransaction(connector_id=1, id_tag=tag, meter_start=0, timestamp=now_iso())
        )
        self.transaction_id = answer.transaction_id
        return str(answer.id_tag_info["status"])

    async def meter(self) -> None:
        await self.charger.cp.call(
            call16.MeterValues(
                connector_id=1, transaction_id=self.transaction_id, meter_value=meter_value("16")
            )
        )

    async def stop(self) -> None:
        assert self.transaction_id is not None
        await self.charger.cp.call(
            call16.StopTransaction(
                meter_stop=1000, timestamp=now_iso(), transaction_id=self.transaction_id
            )
        )


class Session201:
    def __init__(self, charger: RunningChargePoint, name: str) -> None:
        self.charger = charger
        self.name = name
        self.count = 0
        self.seq = 0

    async def _event(self, kind: str, trigger: str) -> None:
        await self.charger.cp.call(
            call201.TransactionEvent(
                event_type=kind,
                timestamp=now_iso(),
                trigger_reason=trigger,
                seq_no=self.seq,
                transaction_info={"transactionId": f"{self.name}-{self.count}"},
                evse={"id": 1, "connectorId": 1} if kind == "Started" else None,
                id_token={"idToken": "TAG", "type": "ISO14443"} if kind == "Started" else None,
                meter_value=None if kind == "Started" else meter_value(16),
            )
        )
        self.seq += 1

    async def start(self) -> None:
        self.count += 1
        self.seq = 0
        await self._event("Started", "Authorized")

    async def meter(self) -> None:
        await self._event("Updated", "MeterValuePeriodic")

    async def stop(self) -> None:
        await self._event("Ended", "StopAuthorized")


async def test_outage_with_20_sessions_loses_nothing_and_keeps_order(
    hold_router: tuple[Csms, Router],
) -> None:
    csms, router = hold_router
    chargers = [await connect(router, n, "ocpp1.6" if n < 10 else "ocpp2.0.1") for n in range(20)]
    sessions16 = [Session16(c) for c in chargers[:10]]
    sessions: list[Session16 | Session201] = [
        *sessions16,
        *(Session201(c, f"CP{n:02d}") for n, c in enumerate(chargers) if n >= 10),
    ]
    for charger in chargers:
        await charger.cp.boot()
    for session in sessions:  # 20 sessions running when the CSMS goes
        await session.start()
        await session.meter()
    csms_ids_before = [s.transaction_id for s in sessions16]

    await csms.stop()
    await wait_until(
        lambda: all(v == 0 for v in _upstream_states(router, 20)), what="every CSMS link down"
    )
    # During the outage: meter values, half the sessions stop and new ones start.
    for n, session in enumerate(sessions):
        await session.meter()
        if n % 2 == 0:
            await session.stop()
            await session.start()
            await session.meter()
    offline_ids = [s.transaction_id for s in sessions16]
    # provisional ids, offline
    assert all(tid is not None and tid < 0 for tid in offline_ids[0::2])
    assert router.metrics.answered_locally.labels("StartTransaction")._value.get() == 5

    await csms.start(csms.port)
    await wait_until(
        lambda: router.journal is not None and all(v == 1 for v in _upstream_states(router, 20)),
        timeout_s=20,
        what="every CSMS link back",
    )
    for n, charger in enumerate(chargers):
        identity = f"CP{n:02d}"
        sent = transaction_frames(charger.recorder.sent)

        def replayed(identity: str = identity, sent: list[str] = sent) -> bool:
            return len(transaction_frames(csms.received(identity))) >= len(sent)

        await wait_until(
            replayed,
            timeout_s=20,
            what=f"{identity}'s replay",
        )
        got = transaction_frames(csms.received(identity))
        assert ids(got) == ids(sent), identity  # every message, exactly in the order sent
        assert charger.ws.close_code is None  # the charger never lost its socket

    # 1.6: the CSMS saw its own ids, and stopping with the CSMS's id reaches the right session.
    for n in range(0, 10, 2):
        messages = [json.loads(f) for f in transaction_frames(csms.received(f"CP{n:02d}"))]
        stops = [m[3]["transactionId"] for m in messages if m[2] == "StopTransaction"]
        assert stops == [csms_ids_before[n]]
        later = [m[3]["transactionId"] for m in messages if m[2] == "MeterValues"][-1]
        assert later > 0  # the offline session's meter values carry the CSMS's id
    remaps = router.metrics.id_remaps.labels("to_csms")
    await wait_until(lambda: remaps._value.get() == 5, what="one remap per offline session")
    # 2.0.1: the events the LC answered are marked offline.
    events = [json.loads(f)[3] for f in transaction_frames(csms.received("CP10"))]
    assert [e.get("offline") for e in events] == [None, None, True, True, True, True]
    for charger in chargers:
        await charger.close()


def _upstream_states(router: Router, count: int) -> list[float | None]:
    gauge = router.metrics.upstream_connected
    return [gauge.value(f"CP{n:02d}") for n in range(count)]


async def test_remote_stop_with_the_csms_id_reaches_the_offline_session(
    hold_router: tuple[Csms, Router],
) -> None:
    csms, router = hold_router
    observed: list[ev.Event] = []
    router.subscribe(observed.append)
    charger = await connect(router, 1, "ocpp1.6")
    session = Session16(charger)
    await charger.cp.boot()
    await csms.stop()
    await wait_until(lambda: _upstream_states(router, 2)[1] == 0, what="CSMS link down")
    await session.start()
    provisional = session.transaction_id
    assert provisional is not None and provisional < 0
    await csms.start(csms.port)
    await wait_until(
        lambda: any("StartTransaction" in f for f in csms.received("CP01")),
        timeout_s=10,
        what="the replayed start",
    )
    await wait_until(
        lambda: any('"transactionId"' in f for f in csms.connections["CP01"].sent),
        what="the CSMS's answer to the replayed start",
    )
    start_answer = next(
        json.loads(f) for f in csms.connections["CP01"].sent if '"transactionId"' in f
    )
    csms_id = start_answer[2]["transactionId"]
    # The balancer learns both ids name one session (a CSMS TxProfile names the CSMS's).
    mapped = ev.TransactionIdMapped("CP01", str(provisional), str(csms_id))
    await wait_until(lambda: mapped in observed, what="the id map published")
    remote = await csms.stations["CP01"].call(call16.RemoteStopTransaction(transaction_id=csms_id))
    assert remote.status == "Accepted"
    assert charger.cp.remote_stops == [provisional]
    # ...and the session's later messages reach the CSMS with the CSMS's id.
    await session.stop()
    stop = json.loads(transaction_frames(csms.received("CP01"))[-1])
    assert (stop[2], stop[3]["transactionId"]) == ("StopTransaction", csms_id)
    await charger.close()


async def test_charger_rebooting_during_the_outage_is_readmitted_only_with_its_credentials(
    hold_router: tuple[Csms, Router],
) -> None:
    csms, router = hold_router
    charger = await connect(router, 3, "ocpp2.0.1")
    await charger.cp.boot()
    await _credentials_kept(router, "CP03", "pw3")
    await csms.stop()
    await charger.close()  # the charger reboots while the CSMS is gone

    again = await connect(router, 3, "ocpp2.0.1")
    boot = await again.cp.boot()
    assert boot.status == "Accepted" and boot.interval == 300  # the CSMS's last interval
    await again.close()

    with pytest.raises(websockets.InvalidStatus) as wrong:
        await connect(router, 3, "ocpp2.0.1", password="guess")
    assert wrong.value.response.status_code == 502
    with pytest.raises(websockets.InvalidStatus) as unknown:
        await connect(router, 30, "ocpp2.0.1")
    assert unknown.value.response.status_code == 502
    assert router.settings.hold is not None
    stored = router.settings.hold.journal_path.read_bytes()
    assert b"pw3" not in stored and basic_auth("CP03", "pw3").encode() not in stored


def reports(frames: list[str]) -> list[str]:
    """The message ids of the reboots and firmware reports among `frames`, in order."""
    kept = {"BootNotification", "FirmwareStatusNotification"}
    return [m[1] for m in map(json.loads, frames) if m[0] == 2 and m[2] in kept]


def firmware_status(version: str, status: str) -> Any:
    if version == "ocpp1.6":
        return call16.FirmwareStatusNotification(status=status)
    return call201.FirmwareStatusNotification(status=status, request_id=7)


async def _credentials_kept(router: Router, identity: str, password: str) -> None:
    """Wait until the salted hash of these credentials is stored (written in the background)."""
    journal = router.journal
    assert journal is not None

    async def kept() -> bool:
        return await journal.admit(identity, basic_auth(identity, password)) is not None

    await wait_until_async(kept, what=f"{identity}'s credentials stored")


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_firmware_update_and_reboot_during_the_outage_reach_the_csms_in_order(
    hold_router: tuple[Csms, Router], version: str
) -> None:
    csms, router = hold_router
    n = 5 if version == "ocpp1.6" else 15
    identity = f"CP{n:02d}"
    charger = await connect(router, n, version)
    await charger.cp.boot()
    await _credentials_kept(router, identity, f"pw{n}")
    await csms.stop()
    await wait_until(lambda: _upstream_states(router, 20)[n] == 0, what="CSMS link down")
    for status in ("Downloading", "Downloaded", "Installing"):
        await charger.cp.call(firmware_status(version, status))
    await charger.close()  # it reboots into the new firmware, the CSMS still gone
    again = await connect(router, n, version)
    assert (await again.cp.boot()).status == "Accepted"
    await again.cp.call(firmware_status(version, "Installed"))

    sent = reports(charger.recorder.sent + again.recorder.sent)
    assert len(sent) == 6 and reports(csms.received(identity)) == sent[:1]
    await csms.start(csms.port)
    await wait_until(
        lambda: reports(csms.received(identity)) == sent, timeout_s=20, what="the reports"
    )
    station = csms.stations[identity]
    # A frame is recorded as received before its handler has run: wait for the last one.
    await wait_until(
        lambda: station.actions.count("FirmwareStatusNotification") == 4, what="all handled"
    )
    assert station.actions[-5:] == ["FirmwareStatusNotification"] * 3 + [
        "BootNotification",
        "FirmwareStatusNotification",
    ]
    await again.close()


async def test_a_charger_the_csms_left_pending_is_answered_pending_while_it_is_gone(
    hold_router: tuple[Csms, Router],
) -> None:
    csms, router = hold_router
    csms.boot_status = "Pending"
    charger = await connect(router, 6, "ocpp2.0.1")
    assert (await charger.cp.boot()).status == "Pending"
    await _credentials_kept(router, "CP06", "pw6")
    await csms.stop()
    await charger.close()
    again = await connect(router, 6, "ocpp2.0.1")
    boot = await again.cp.boot()
    assert (boot.status, boot.interval) == ("Pending", 300)  # not Accepted
    await again.close()


async def test_lc_calls_reach_the_charger_while_the_csms_is_gone(
    hold_router: tuple[Csms, Router],
) -> None:
    """The load balancer keeps steering chargers during an outage: its calls still go through."""
    csms, router = hold_router
    charger = await connect(router, 4, "ocpp1.6")
    await charger.cp.boot()
    await csms.stop()
    await wait_until(lambda: _upstream_states(router, 5)[4] == 0, what="CSMS link down")
    profile = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 870001,
            "stackLevel": 9,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
            },
        },
    }
    assert await router.call("CP04", "SetChargingProfile", profile) == {"status": "Accepted"}
    assert charger.cp.profiles[-1]["cs_charging_profiles"]["charging_profile_id"] == 870001
    assert charger.ws.close_code is None
    await charger.close()


async def test_charger_the_csms_refuses_after_an_outage_is_disconnected(
    hold_router: tuple[Csms, Router],
) -> None:
    csms, router = hold_router
    charger = await connect(router, 5, "ocpp2.0.1")
    await charger.cp.boot()
    await csms.stop()
    await wait_until(lambda: _upstream_states(router, 6)[5] == 0, what="CSMS link down")
    assert charger.ws.close_code is None  # held while the CSMS is gone
    assert csms.passwords is not None
    csms.passwords["CP05"] = "changed at the CSMS"
    await csms.start(csms.port)
    # The CSMS answers again but says 401 to this charger: the LC must not keep it.
    await asyncio.wait_for(charger.ws.wait_closed(), 10)
    assert router.metrics.upstream_connect_failures.labels("http_401")._value.get() >= 1
    await charger.close()


@pytest.mark.parametrize("rule", ["true", "false", None])
async def test_start_the_csms_refuses_after_the_outage_follows_the_chargers_rule_16(
    hold_router: tuple[Csms, Router], rule: str | None
) -> None:
    """1.6 §3.5.4: StopTransactionOnInvalidId true stops the session, false only its energy;
    a charger that does not say (None: it refuses GetConfiguration) is stopped."""
    csms, router = hold_router
    charger = await connect(router, 6, "ocpp1.6")
    cp = charger.cp
    assert isinstance(cp, ChargePoint16)
    stop_on_invalid_id = rule != "false"
    if rule is None:
        cp.configuration = None
    else:
        assert cp.configuration is not None
        cp.configuration["StopTransactionOnInvalidId"] = rule
        cp.configuration["ChargeProfileMaxStackLevel"] = "6"
    events: list[ev.Event] = []
    router.subscribe(events.append)
    await cp.boot()
    await csms.stop()
    await wait_until(lambda: _upstream_states(router, 7)[6] == 0, what="CSMS link down")
    session = Session16(charger)
    assert await session.start(tag="LOCAL") == "Accepted"  # on the LC's word
    provisional = session.transaction_id
    assert provisional is not None and provisional < 0
    csms.refused_tags["LOCAL"] = "Blocked"
    await csms.start(csms.port)

    action = "stop" if stop_on_invalid_id else "suspend"
    done = router.metrics.refused_transactions.labels(action, "accepted")
    await wait_until(lambda: done._value.get() == 1, timeout_s=10, what="the LC to act")
    if stop_on_invalid_id:
        assert cp.remote_stops == [provisional] and cp.profiles == []
    else:
        assert cp.remote_stops == []
        (profile,) = cp.profiles
        assert profile["connector_id"] == 1
        tx = profile["cs_charging_profiles"]
        assert tx["charging_profile_purpose"] == "TxProfile"
        assert (tx["transaction_id"], tx["stack_level"]) == (provisional, 6)
        schedule = tx["charging_schedule"]
        assert [p["limit"] for p in schedule["charging_schedule_period"]] == [0]
    # Nothing else follows: a call the CSMS sends now is the charger's next one (the LC's calls
    # and the CSMS's share one FIFO queue per charger).
    await csms.stations["CP06"].call(call16.GetConfiguration(key=["HeartbeatInterval"]))
    sent = "RemoteStopTransaction" if stop_on_invalid_id else "SetChargingProfile"
    assert cp.handled == ["GetConfiguration", sent, "GetConfiguration"]
    # The load balancer learns that this session may not draw any more.
    suspended = [event for event in events if isinstance(event, ev.EnergySuspended)]
    assert suspended == ([] if stop_on_invalid_id else [ev.EnergySuspended("CP06", 1)])
    # A stop is done with once answered; a suspension is kept (for an LC restart) until the
    # session ends.
    journal = router.journal
    assert journal is not None
    kept: list[tuple[int | str, int | None]] = [] if stop_on_invalid_id else [(provisional, 1)]

    async def refusals_are(expected: list[tuple[int | str, int | None]]) -> bool:
        return await journal.refusals("CP06") == expected

    await wait_until_async(lambda: refusals_are(kept), what=f"refusals {kept} journaled")
    if not stop_on_invalid_id:
        await session.stop()
        # forgotten once the end is observed
        await wait_until_async(lambda: refusals_are([]), what="the refusal forgotten")
    assert charger.ws.close_code is None
    await charger.close()


@pytest.mark.parametrize(
    ("stop_on_invalid_id", "profile_status"),
    [(True, "Accepted"), (False, "Accepted"), (False, "Rejected")],
)
async def test_a_refusal_from_before_an_lc_restart_is_acted_on_again(
    tmp_path: Path, stop_on_invalid_id: bool, profile_status: str
) -> None:
    """The LC journals a refusal before it acknowledges the replayed entry. Killed before the
    charger answered the stop, or while a suspended session still runs, the next run acts
    again when the charger connects: a stop is then done with, a suspension lasts until the
    session ends and the load balancer hears of it again. A charger that rejects the
    suspension is asked to stop the session instead."""
    journal_path = tmp_path / "journal.sqlite"
    journal = await Journal.open(journal_path)
    await journal.remember_refusal("CP09", -3, 1)
    await journal.close()
    csms = Csms(passwords={"CP09": "pw9"})
    await csms.start()
    router = Router(
        RouterSettings(
            upstream_url=csms.url, listen_port=0, hold=HoldSettings(journal_path, OfflineSettings())
        )
    )
    await router.start()
    events: list[ev.Event] = []
    router.subscribe(events.append)
    try:
        charger = await connect(router, 9, "ocpp1.6")
        cp = charger.cp
        assert isinstance(cp, ChargePoint16)
        assert cp.configuration is not None
        cp.configuration["StopTransactionOnInvalidId"] = str(stop_on_invalid_id).lower()
        cp.profile_status = profile_status
        stopped = stop_on_invalid_id or profile_status != "Accepted"
        action = "stop" if stopped else "suspend"
        done = router.metrics.refused_transactions.labels(action, "accepted")
        await wait_until(lambda: done._value.get() == 1, timeout_s=10, what="the LC to act")
        assert router.journal is not None
        if stopped:
            assert cp.remote_stops == [-3]
            assert await router.journal.refusals("CP09") == []  # a later run leaves it alone
            assert not any(isinstance(event, ev.EnergySuspended) for event in events)
            rejected = router.metrics.refused_transactions.labels("suspend", "rejected")
            assert rejected._value.get() == (0 if stop_on_invalid_id else 1)
        else:
            (profile,) = cp.profiles
            assert profile["cs_charging_profiles"]["transaction_id"] == -3
            assert ev.EnergySuspended("CP09", 1) in events
            assert await router.journal.refusals("CP09") == [(-3, 1)]
        await charger.close()
    finally:
        await router.stop()
        await csms.stop()


@pytest.mark.parametrize("stop_on_invalid_id", [True, False])
async def test_event_the_csms_refuses_after_the_outage_follows_the_chargers_rule_201(
    hold_router: tuple[Csms, Router], stop_on_invalid_id: bool
) -> None:
    """2.0.1 C15/E05: StopTxOnInvalidId true stops the transaction, false only its energy."""
    csms, router = hold_router
    charger = await connect(router, 7, "ocpp2.0.1")
    cp = charger.cp
    assert isinstance(cp, ChargePoint201)
    cp.variables[("TxCtrlr", "StopTxOnInvalidId")] = str(stop_on_invalid_id).lower()
    cp.variables[("SmartChargingCtrlr", "ProfileStackLevel")] = "4"
    await cp.boot()
    await csms.stop()
    await wait_until(lambda: _upstream_states(router, 8)[7] == 0, what="CSMS link down")
    answer = await cp.call(
        call201.TransactionEvent(
            event_type="Started",
            timestamp=now_iso(),
            trigger_reason="Authorized",
            seq_no=0,
            transaction_info={"transactionId": "tx-refused"},
            evse={"id": 2, "connectorId": 1},
            id_token={"idToken": "LOCAL", "type": "ISO14443"},
        )
    )
    assert answer.id_token_info["status"] == "Accepted"  # on the LC's word
    csms.refused_tags["LOCAL"] = "Blocked"
    await csms.start(csms.port)

    action = "stop" if stop_on_invalid_id else "suspend"
    done = router.metrics.refused_transactions.labels(action, "accepted")
    await wait_until(lambda: done._value.get() == 1, timeout_s=10, what="the LC to act")
    # Nothing else follows: a call the CSMS sends now is the charger's next one.
    heartbeat_interval = {
        "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "HeartbeatInterval"},
    }
    await csms.stations["CP07"].call(call201.GetVariables(get_variable_data=[heartbeat_interval]))
    if stop_on_invalid_id:
        assert cp.handled == ["GetVariables", "RequestStopTransaction", "GetVariables"]
        assert cp.remote_stops == ["tx-refused"] and cp.profiles == []
    else:
        assert cp.handled == ["GetVariables", "SetChargingProfile", "GetVariables"]
        (profile,) = cp.profiles
        assert profile["evse_id"] == 2
        tx = profile["charging_profile"]
        assert tx["charging_profile_purpose"] == "TxProfile"
        assert (tx["transaction_id"], tx["stack_level"]) == ("tx-refused", 4)
        (schedule,) = tx["charging_schedule"]
        assert [p["limit"] for p in schedule["charging_schedule_period"]] == [0]
    assert charger.ws.close_code is None
    await charger.close()
