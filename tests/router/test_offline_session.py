"""LinkSession under the `hold` policy (Part 4 §6.3, errata 2025-02), sans I/O.

The CSMS link goes away and comes back; the session answers the charger itself meanwhile,
journals what the CSMS must still get, replays it in order and keeps 1.6 transaction ids
apart. Every test drives the session with texts and explicit `now` values; nothing sleeps.
A small in-memory journal stands in for the asyncio layer's bookkeeping (it applies the
offline outputs exactly as that layer persists them) so backlogs are built from what the
session itself asked to keep.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router import events as ev
from router.frames import CallResult, OcppVersion, call_result_text, call_text
from router.local_answers import BootAnswer
from router.offline import (
    TRANSACTION_MESSAGE_ATTEMPTS,
    OfflineKnowledge,
    OfflineRelay,
    OfflineSettings,
    ReplayItem,
    UpstreamState,
)
from router.outputs import (
    AnsweredLocally,
    AuthorizationLearned,
    BootLearned,
    Direction,
    IdRemapped,
    JournalAppend,
    LcCallFinished,
    Observed,
    Output,
    ProvisionalIdUsed,
    Relayed,
    ReplayDelivered,
    Replayed,
    ReplayFinished,
    Send,
    StatusRemembered,
    TransactionMapped,
    TransactionRefused,
    Violation,
)
from router.schemas import default_registry
from router.session import LinkSession, SessionSettings
from tests.router.test_local_answers import NOTIFY_EVENT

V16, V201 = OcppVersion.V16, OcppVersion.V201
UP, DOWN = Direction.TO_CSMS, Direction.TO_CHARGER
CP = "CP1"
TIMEOUT = 30.0
WALL = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
WALL_TEXT = "2026-11-25T10:00:00.000Z"
TS = "2026-11-25T09:30:00Z"
ACCEPTED = {"status": "Accepted"}
INVALID = {"status": "Invalid"}
CSMS_ID = 4711
REGISTRY = default_registry()
T = TypeVar("T")


class Clock:
    """The wall clock the session reads for local answers and authorization expiry."""

    def __init__(self) -> None:
        self.now = WALL

    def __call__(self) -> datetime:
        return self.now


def make(
    version: OcppVersion = V16,
    *,
    reserve: Iterable[int] = (-1, -2, -3),
    knowledge: OfflineKnowledge | None = None,
    clock: Clock | None = None,
    identity: str = CP,
    accept_unknown: bool = False,
) -> LinkSession:
    offline = OfflineRelay(
        identity,
        version,
        OfflineSettings(local_list=frozenset({"LOCAL"}), accept_unknown_ids=accept_unknown),
        OfflineKnowledge() if knowledge is None else knowledge,
        {},
        deque(reserve),
    )
    return LinkSession(
        identity,
        version,
        SessionSettings(call_timeout_s=TIMEOUT),
        REGISTRY,
        offline,
        Clock() if clock is None else clock,
    )


def relay_of(session: LinkSession) -> OfflineRelay:
    assert session.offline is not None
    return session.offline


# -- frames -----------------------------------------------------------------------------------


def call(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return json.dumps([2, message_id, action, payload])


def result(message_id: str, payload: dict[str, Any]) -> str:
    return json.dumps([3, message_id, payload])


def error(message_id: str, code: str = "InternalError") -> str:
    return json.dumps([4, message_id, code, "", {}])


HEARTBEAT = call("hb-1", "Heartbeat", {})
SAMPLES_16 = [
    {
        "timestamp": TS,
        "sampledValue": [{"value": "16", "measurand": "Current.Import", "phase": "L1"}],
    }
]
SAMPLES_201 = [
    {"timestamp": TS, "sampledValue": [{"value": 16, "measurand": "Current.Import", "phase": "L1"}]}
]


def start16(message_id: str = "s-1", tag: str = "LOCAL", connector: int = 1) -> str:
    payload = {"connectorId": connector, "idTag": tag, "meterStart": 0, "timestamp": TS}
    return call(message_id, "StartTransaction", payload)


def meter16(message_id: str, transaction_id: int | None, connector: int = 1) -> str:
    payload: dict[str, Any] = {"connectorId": connector, "meterValue": SAMPLES_16}
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    return call(message_id, "MeterValues", payload)


def stop16(message_id: str, transaction_id: int, tag: str | None = None) -> str:
    payload: dict[str, Any] = {"meterStop": 500, "timestamp": TS, "transactionId": transaction_id}
    if tag is not None:
        payload["idTag"] = tag
    return call(message_id, "StopTransaction", payload)


def status16(message_id: str, connector: int = 1, status: str = "Charging") -> str:
    payload = {"connectorId": connector, "errorCode": "NoError", "status": status}
    return call(message_id, "StatusNotification", payload)


def event201(
    message_id: str, event_type: str = "Started", token: str | None = "LOCAL", **extra: Any
) -> str:
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": TS,
        "triggerReason": "Authorized" if event_type == "Started" else "MeterValuePeriodic",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-1"},
        **extra,
    }
    if event_type == "Started":
        payload["evse"] = {"id": 1, "connectorId": 1}
    if token is not None:
        payload["idToken"] = {"idToken": token, "type": "ISO14443"}
    return call(message_id, "TransactionEvent", payload)


def status201(message_id: str, evse: int = 1, connector: int = 2) -> str:
    payload = {
        "timestamp": TS,
        "connectorStatus": "Occupied",
        "evseId": evse,
        "connectorId": connector,
    }
    return call(message_id, "StatusNotification", payload)


def with_transaction_id(text: str, transaction_id: int) -> str:
    """The frame as the LC rewrites it: same id and action, transactionId replaced."""
    _type, message_id, action, payload = json.loads(text)
    return call_text(message_id, action, {**payload, "transactionId": transaction_id})


# -- outputs ----------------------------------------------------------------------------------


def sent(outputs: list[Output], direction: Direction) -> list[str]:
    return [o.text for o in outputs if isinstance(o, Send) and o.direction is direction]


def of_type(outputs: list[Output], kind: type[T]) -> list[T]:
    return [o for o in outputs if isinstance(o, kind)]


def observed(outputs: list[Output]) -> list[ev.Event]:
    return [o.event for o in outputs if isinstance(o, Observed)]


def position(outputs: list[Output], match: Callable[[Output], bool]) -> int:
    found = [n for n, o in enumerate(outputs) if match(o)]
    assert len(found) == 1, f"expected exactly one match in {outputs}"
    return found[0]


def is_send(direction: Direction) -> Callable[[Output], bool]:
    return lambda o: isinstance(o, Send) and o.direction is direction


def local_result(outputs: list[Output]) -> list[Any]:
    """The one CALLRESULT the charger got from the LC, decoded."""
    texts = sent(outputs, DOWN)
    assert len(texts) == 1, outputs
    frame: list[Any] = json.loads(texts[0])
    assert frame[0] == 3, frame
    return frame


class Journal:
    """In-memory stand-in for what the asyncio layer persists from the offline outputs."""

    def __init__(self) -> None:
        self.pending: dict[int, JournalAppend] = {}
        self.statuses: dict[str, str] = {}
        self.mapped: dict[int, int] = {}
        self._seq = 0

    def apply(self, outputs: list[Output]) -> list[Output]:
        for output in outputs:
            if isinstance(output, JournalAppend):
                self._seq += 1
                self.pending[self._seq] = output
            elif isinstance(output, ReplayDelivered):
                del self.pending[output.seq]
            elif isinstance(output, StatusRemembered):
                self.statuses[output.connector_key] = output.text
            elif isinstance(output, ReplayFinished) and output.statuses_delivered:
                self.statuses.clear()
            elif isinstance(output, TransactionMapped):
                self.mapped[output.provisional] = output.csms_id
        return outputs

    def backlog(self) -> list[ReplayItem]:
        journaled = [
            ReplayItem(seq, entry.text, entry.provisional_transaction_id, entry.sent_before)
            for seq, entry in self.pending.items()
        ]
        # statuses in connector order, as the journal keeps them
        keys = sorted(self.statuses, key=lambda key: [int(part) for part in key.split("/")])
        return journaled + [ReplayItem(None, self.statuses[key]) for key in keys]


def csms_answer(text: str, csms_ids: Iterable[int] = ()) -> dict[str, Any]:
    """What a CSMS accepting everything answers to a charger call."""
    action = json.loads(text)[2]
    if action == "StartTransaction":
        return {"transactionId": next(iter(csms_ids)), "idTagInfo": ACCEPTED}
    return {}


def replay_all(
    session: LinkSession,
    journal: Journal,
    now: float,
    answer: Callable[[str], dict[str, Any]] = csms_answer,
) -> tuple[list[str], list[Output]]:
    """Reconnect and let the CSMS answer every replayed frame at once: (frames it got, the
    outputs of its last answer, which finishes the replay)."""
    session.hold_for_replay()
    out = journal.apply(session.upstream_restored(journal.backlog(), now))
    got: list[str] = []
    for _ in range(1000):
        if of_type(out, ReplayFinished):
            return got, out
        (text,) = sent(out, UP)  # one replayed frame at a time
        got.append(text)
        out = journal.apply(
            session.receive_from_csms(result(json.loads(text)[1], answer(text)), now)
        )
    raise AssertionError("the replay never finished")


def offline(session: LinkSession, journal: Journal, *texts: str, now: float = 1) -> list[Output]:
    """The charger sends `texts` while the CSMS is gone; all outputs, in order."""
    out: list[Output] = []
    for text in texts:
        out += journal.apply(session.receive_from_charger(text, now))
    return out


def mapped_session() -> tuple[LinkSession, Journal]:
    """A 1.6 session live again after an offline StartTransaction got -1, mapped to CSMS_ID."""
    session, journal = make(), Journal()
    journal.apply(session.upstream_lost(0))
    offline(session, journal, start16())
    replay_all(session, journal, 10, lambda text: csms_answer(text, [CSMS_ID]))
    assert relay_of(session).transaction_ids.transaction_map == {-1: CSMS_ID}
    assert relay_of(session).state is UpstreamState.LIVE
    return session, journal


# -- answering while DOWN ----------------------------------------------------------------------


def test_after_upstream_lost_the_charger_is_answered_by_the_lc() -> None:
    session = make()
    assert session.upstream_lost(0) == []
    assert relay_of(session).state is UpstreamState.DOWN
    out = session.receive_from_charger(HEARTBEAT, 1)
    assert out == [
        Send(DOWN, call_result_text("hb-1", {"currentTime": WALL_TEXT})),
        AnsweredLocally("Heartbeat"),
        Observed(ev.ChargerHeartbeat("CP1")),
    ]
    assert session.next_deadline() is None  # nothing waits for the CSMS


@pytest.mark.parametrize("version", [V16, V201])
def test_offline_boot_is_accepted_with_the_default_interval(version: OcppVersion) -> None:
    session = make(version)
    session.upstream_lost(0)
    payload = (
        {"chargePointVendor": "V", "chargePointModel": "M"}
        if version is V16
        else {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}
    )
    out = session.receive_from_charger(call("b-1", "BootNotification", payload), 1)
    frame = local_result(out)
    assert frame == [3, "b-1", {"status": "Accepted", "currentTime": WALL_TEXT, "interval": 300}]
    assert REGISTRY.check(version, "BootNotification", False, frame[2]) is None
    assert AnsweredLocally("BootNotification") in out
    assert of_type(out, JournalAppend)  # the CSMS learns of the reboot after the outage


def test_offline_start_transaction_is_journaled_before_its_answer_with_a_provisional_id() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    text = start16()
    out = offline(session, journal, text)
    assert out[:4] == [
        ProvisionalIdUsed(),
        JournalAppend(text, -1),
        Send(DOWN, call_result_text("s-1", {"transactionId": -1, "idTagInfo": ACCEPTED})),
        AnsweredLocally("StartTransaction"),
    ]
    assert observed(out) == [ev.TransactionStarted(CP, "-1", 1, "LOCAL", 0.0)]
    assert sent(out, UP) == []
    assert relay_of(session).transaction_ids.provisional_ids == (-2, -3)
    second = offline(session, journal, start16("s-2", connector=2))
    assert local_result(second)[2]["transactionId"] == -2
    assert of_type(second, JournalAppend) == [JournalAppend(start16("s-2", connector=2), -2)]


def test_offline_start_with_an_unknown_tag_is_still_started_but_invalid() -> None:
    session = make()
    session.upstream_lost(0)
    out = session.receive_from_charger(start16(tag="STRANGER"), 1)
    assert local_result(out)[2] == {"transactionId": -1, "idTagInfo": INVALID}
    assert len(of_type(out, JournalAppend)) == 1  # the CSMS must still learn of it


def test_empty_provisional_id_reserve_answers_a_callerror_and_journals_nothing() -> None:
    session = make(reserve=())
    session.upstream_lost(0)
    out = session.receive_from_charger(start16(), 1)
    (text,) = sent(out, DOWN)
    assert out == [Send(DOWN, text)]  # no journal entry, no provisional id used
    assert json.loads(text)[:3] == [4, "s-1", "InternalError"]
    assert relay_of(session).transaction_ids.provisional_ids == ()
    # topped up by the asyncio layer: the charger's retry gets the new id
    session.provisional_id_reserved(-9)
    retry = session.receive_from_charger(start16("s-1b"), 2)
    assert local_result(retry)[2]["transactionId"] == -9
    assert of_type(retry, JournalAppend) == [JournalAppend(start16("s-1b"), -9)]


JOURNALED = [
    (V16, stop16("x-1", -1)),
    (V16, stop16("x-1", -1, tag="LOCAL")),
    (V16, meter16("x-1", -1)),
    (V16, call("x-1", "SecurityEventNotification", {"type": "TamperDetected", "timestamp": TS})),
    (V201, event201("x-1")),
    (V201, event201("x-1", "Updated", token=None, meterValue=SAMPLES_201)),
    (V201, event201("x-1", "Ended", token=None)),
    (V201, call("x-1", "SecurityEventNotification", {"type": "TamperDetected", "timestamp": TS})),
    # reports that still mean something after the outage
    (V16, call("x-1", "FirmwareStatusNotification", {"status": "Installed"})),
    (V16, call("x-1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})),
    (V201, call("x-1", "NotifyEvent", NOTIFY_EVENT)),
    (V201, call("x-1", "FirmwareStatusNotification", {"status": "Installed"})),
    (V201, call("x-1", "LogStatusNotification", {"status": "Uploaded"})),
]


@pytest.mark.parametrize(("version", "text"), JOURNALED)
def test_calls_the_csms_must_learn_of_are_journaled_before_the_answer_goes(
    version: OcppVersion, text: str
) -> None:
    session = make(version)
    session.upstream_lost(0)
    out = session.receive_from_charger(text, 1)
    (journaled,) = of_type(out, JournalAppend)
    assert (journaled.text, journaled.provisional_transaction_id) == (text, None)
    assert position(out, lambda o: isinstance(o, JournalAppend)) < position(out, is_send(DOWN))
    action = json.loads(text)[2]
    frame = local_result(out)
    assert frame[1] == "x-1"
    assert REGISTRY.check(version, action, False, frame[2]) is None
    assert AnsweredLocally(action) in out
    assert not of_type(out, ProvisionalIdUsed)


NOT_JOURNALED = [
    (V16, meter16("x-1", None)),
    (V16, HEARTBEAT.replace("hb-1", "x-1")),
    (V16, call("x-1", "Authorize", {"idTag": "LOCAL"})),
    (V16, call("x-1", "DataTransfer", {"vendorId": "acme"})),
    (V201, call("x-1", "MeterValues", {"evseId": 1, "meterValue": SAMPLES_201})),
]


def test_periodic_meter_values_are_marked_and_only_a_seen_transaction_is_named() -> None:
    session = make()
    session.upstream_lost(0)
    provisional = local_result(session.receive_from_charger(start16("s-1"), 1))[2]["transactionId"]
    (seen,) = of_type(session.receive_from_charger(meter16("m-1", provisional), 2), JournalAppend)
    assert (seen.periodic, seen.transaction) == (True, str(provisional))
    # a transaction the LC never saw: droppable like any periodic meter value, no latest kept
    (unseen,) = of_type(session.receive_from_charger(meter16("m-2", 4242), 3), JournalAppend)
    assert (unseen.periodic, unseen.transaction) == (True, None)
    (stop,) = of_type(session.receive_from_charger(stop16("x-1", provisional), 4), JournalAppend)
    assert not stop.periodic


def test_only_periodic_2x_updates_are_periodic_meter_values() -> None:
    session = make(V201)
    session.upstream_lost(0)
    assert not of_type(session.receive_from_charger(event201("e-1"), 1), JournalAppend)[0].periodic
    periodic = event201("e-2", "Updated", token=None, meterValue=SAMPLES_201)
    (update,) = of_type(session.receive_from_charger(periodic, 2), JournalAppend)
    assert (update.periodic, update.transaction) == (True, "tx-1")
    changed = event201("e-3", "Updated", token=None).replace(
        "MeterValuePeriodic", "ChargingStateChanged"
    )
    assert not of_type(session.receive_from_charger(changed, 3), JournalAppend)[0].periodic


@pytest.mark.parametrize("status", ["Pending", "Rejected"])
def test_offline_boot_repeats_the_csmss_pending_or_rejected_with_its_interval(
    status: str,
) -> None:
    session = make()
    boot = call("b-1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    session.receive_from_charger(boot, 0)
    answer = {"status": status, "currentTime": TS, "interval": 45}
    assert BootLearned(status, 45) in session.receive_from_csms(result("b-1", answer), 1)
    session.upstream_lost(2)
    offline = local_result(session.receive_from_charger(boot.replace("b-1", "b-2"), 3))[2]
    assert (offline["status"], offline["interval"]) == (status, 45)


@pytest.mark.parametrize(("version", "text"), NOT_JOURNALED)
def test_other_calls_are_answered_without_journaling(version: OcppVersion, text: str) -> None:
    session = make(version)
    session.upstream_lost(0)
    out = session.receive_from_charger(text, 1)
    assert not of_type(out, JournalAppend)
    frame = local_result(out)
    assert REGISTRY.check(version, json.loads(text)[2], False, frame[2]) is None


@pytest.mark.parametrize(
    ("version", "text", "key", "event"),
    [
        (V16, status16("st-1", 2), "2", ev.StatusChanged(CP, 2, 2, "Charging")),
        (V201, status201("st-1", 1, 2), "1/2", ev.StatusChanged(CP, 1, 2, "Occupied")),
    ],
)
def test_offline_status_is_remembered_per_connector_not_journaled(
    version: OcppVersion, text: str, key: str, event: ev.Event
) -> None:
    session = make(version)
    session.upstream_lost(0)
    out = session.receive_from_charger(text, 1)
    assert of_type(out, StatusRemembered) == [StatusRemembered(key, text)]
    assert not of_type(out, JournalAppend)
    assert local_result(out) == [3, "st-1", {}]
    assert observed(out) == [event]


def test_observation_continues_while_down_with_the_provisional_id_16() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    out = offline(session, journal, start16(), meter16("m-1", -1), stop16("e-1", -1))
    events = observed(out)
    assert events[0] == ev.TransactionStarted(CP, "-1", 1, "LOCAL", 0.0)
    assert isinstance(events[1], ev.MeterSampled) and events[1].transaction_id == "-1"
    assert events[1].current_a == (16.0, None, None)
    assert events[2] == ev.TransactionEnded(CP, "-1", 1, 500.0, None)  # connector named


def test_observation_continues_while_down_201_and_names_the_evse() -> None:
    session = make(V201)
    session.upstream_lost(0)
    started = session.receive_from_charger(event201("t-1"), 1)
    assert observed(started) == [ev.TransactionStarted(CP, "tx-1", 1, "LOCAL", None)]
    update = event201("t-2", "Updated", token=None, meterValue=SAMPLES_201)
    events = observed(session.receive_from_charger(update, 2))
    assert events[0] == ev.TransactionUpdated(CP, "tx-1", 1, None)  # the first event named it
    assert isinstance(events[1], ev.MeterSampled) and events[1].evse_id == 1
    assert events[1].current_a == (16.0, None, None)


def test_offline_call_the_lc_cannot_answer_gets_a_callerror() -> None:
    session = make(V201)
    session.upstream_lost(0)
    out = session.receive_from_charger(call("c-1", "SignCertificate", {"csr": "x" * 10}), 1)
    (text,) = sent(out, DOWN)
    assert json.loads(text)[:3] == [4, "c-1", "InternalError"]
    assert not of_type(out, AnsweredLocally)


def test_offline_schema_invalid_call_is_refused_and_not_journaled() -> None:
    session = make()
    session.upstream_lost(0)
    out = session.receive_from_charger(call("s-1", "StartTransaction", {"connectorId": 1}), 1)
    assert len(of_type(out, Violation)) == 1
    (text,) = sent(out, DOWN)
    assert json.loads(text)[:3] == [4, "s-1", "OccurrenceConstraintViolation"]
    assert not of_type(out, JournalAppend) and not of_type(out, ProvisionalIdUsed)
    assert relay_of(session).transaction_ids.provisional_ids == (-1, -2, -3)


# -- upstream_lost with calls under way ---------------------------------------------------------


def test_charger_calls_in_flight_at_upstream_lost_are_answered_locally_and_journaled() -> None:
    session = make()
    start, beat = start16(), HEARTBEAT
    assert sent(session.receive_from_charger(start, 0), UP) == [start]
    assert sent(session.receive_from_charger(beat, 1), UP) == [beat]
    out = session.upstream_lost(2)
    assert of_type(out, JournalAppend) == [JournalAppend(start, -1, sent_before=True)]
    answers = [json.loads(t) for t in sent(out, DOWN)]
    assert answers == [
        [3, "s-1", {"transactionId": -1, "idTagInfo": ACCEPTED}],
        [3, "hb-1", {"currentTime": WALL_TEXT}],
    ]
    assert position(out, lambda o: isinstance(o, JournalAppend)) < min(
        n for n, o in enumerate(out) if is_send(DOWN)(o)
    )
    assert sent(out, UP) == []
    assert session.next_deadline() is None  # no longer waiting for the CSMS's answers


def test_in_flight_invalid_call_gets_the_schema_callerror_and_no_journal_entry() -> None:
    session = make()
    bad = call("s-1", "StartTransaction", {"connectorId": 1})
    assert sent(session.receive_from_charger(bad, 0), UP) == [bad]  # observe mode relays it
    out = session.upstream_lost(1)
    assert not of_type(out, JournalAppend) and not of_type(out, ProvisionalIdUsed)
    (text,) = sent(out, DOWN)
    assert json.loads(text)[:3] == [4, "s-1", "OccurrenceConstraintViolation"]


def test_csms_calls_waiting_for_the_charger_are_dropped_while_lc_calls_stay() -> None:
    session = make()
    trigger = {"requestedMessage": "StatusNotification"}
    first, out = session.send_lc_call("TriggerMessage", trigger, 0)
    assert len(sent(out, DOWN)) == 1
    csms = call("cs-1", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert session.receive_from_csms(csms, 1) == []  # waits behind the LC call
    second, out = session.send_lc_call("TriggerMessage", trigger, 2)
    assert out == [] and session.queue_depth == 2
    assert session.upstream_lost(3) == []
    assert session.queue_depth == 1
    out = session.receive_from_charger(result(first, ACCEPTED), 4)
    assert out[0] == LcCallFinished(first, CallResult(first, ACCEPTED))
    assert [json.loads(t)[1] for t in sent(out, DOWN)] == [second]  # not the CSMS's call
    out = session.receive_from_charger(result(second, ACCEPTED), 5)
    assert out == [LcCallFinished(second, CallResult(second, ACCEPTED))]
    assert session.queue_depth == 0


def test_answer_to_a_csms_call_outstanding_at_upstream_lost_goes_nowhere() -> None:
    session = make()
    csms = call("cs-1", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert sent(session.receive_from_csms(csms, 0), DOWN) == [csms]
    session.upstream_lost(1)
    assert session.next_deadline() == TIMEOUT  # still outstanding at the charger
    assert session.receive_from_charger(result("cs-1", {"status": "Accepted"}), 2) == []
    assert session.next_deadline() is None


def test_lc_call_still_waits_for_the_charger_to_answer_a_dropped_csms_call() -> None:
    session = make()
    csms = call("cs-1", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    session.receive_from_csms(csms, 0)
    lc_id, out = session.send_lc_call("TriggerMessage", {"requestedMessage": "Heartbeat"}, 1)
    assert out == []
    out = session.upstream_lost(2)
    assert sent(out, DOWN) == []  # the charger has not answered cs-1 yet
    out = session.receive_from_charger(result("cs-1", ACCEPTED), 3)
    assert [json.loads(t)[1] for t in sent(out, DOWN)] == [lc_id]


# -- replay ------------------------------------------------------------------------------------


def test_replay_delivers_the_journal_in_order_then_statuses_then_the_held_calls() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    start, meter = start16(), meter16("m-1", -1)
    old_status, status = status16("st-1", 1, "Preparing"), status16("st-2", 1, "Charging")
    offline(session, journal, old_status, start, meter, status)
    assert list(journal.pending) == [1, 2] and journal.statuses == {"1": status}

    session.hold_for_replay()
    live_beat, live_status = call("hb-9", "Heartbeat", {}), status16("st-9", 2, "Available")
    assert session.receive_from_charger(live_beat, 99) == []  # held behind the replay
    assert session.receive_from_charger(live_status, 99) == []

    out = journal.apply(session.upstream_restored(journal.backlog(), 100))
    assert sent(out, UP) == [start]
    assert Replayed("StartTransaction") in out
    assert session.next_deadline() == 100 + TIMEOUT

    answer = {"transactionId": CSMS_ID, "idTagInfo": ACCEPTED}
    out = journal.apply(session.receive_from_csms(result("s-1", answer), 101))
    rewritten = with_transaction_id(meter, CSMS_ID)
    assert sent(out, UP) == [rewritten]
    assert sent(out, DOWN) == []  # the charger already has its local answer
    assert ReplayDelivered(1) in out and TransactionMapped(-1, CSMS_ID) in out
    assert IdRemapped(UP) in out and Replayed("MeterValues") in out
    # acknowledged and mapped before the next frame leaves (a crash then repeats nothing earlier)
    next_send = position(out, is_send(UP))
    assert position(out, lambda o: o == ReplayDelivered(1)) < next_send
    assert position(out, lambda o: isinstance(o, TransactionMapped)) < next_send
    assert session.next_deadline() == 101 + TIMEOUT

    out = journal.apply(session.receive_from_csms(result("m-1", {}), 102))
    assert sent(out, UP) == [status]  # the latest status per connector, unchanged
    assert ReplayDelivered(2) in out and not of_type(out, ReplayFinished)

    out = journal.apply(session.receive_from_csms(result("st-2", {}), 103))
    assert not of_type(out, ReplayDelivered)  # statuses carry no sequence number
    assert position(out, lambda o: isinstance(o, ReplayFinished)) < position(
        out, lambda o: o == Send(UP, live_beat)
    )
    assert sent(out, UP) == [live_beat, live_status]  # in the order the charger sent them
    assert of_type(out, Relayed) == [
        Relayed(UP, "CALL", "Heartbeat"),
        Relayed(UP, "CALL", "StatusNotification"),
    ]
    assert relay_of(session).state is UpstreamState.LIVE
    assert journal.pending == {} and journal.statuses == {}
    assert session.next_deadline() == 103 + TIMEOUT  # now the held calls wait for the CSMS


def test_replay_of_an_empty_backlog_goes_live_at_once() -> None:
    session = make()
    session.upstream_lost(0)
    session.hold_for_replay()
    assert session.receive_from_charger(HEARTBEAT, 1) == []
    out = session.upstream_restored([], 2)
    assert out == [
        ReplayFinished(statuses_delivered=False),  # nothing for the journal to forget
        Send(UP, HEARTBEAT),
        Relayed(UP, "CALL", "Heartbeat"),
        Observed(ev.ChargerHeartbeat("CP1")),
    ]
    assert relay_of(session).state is UpstreamState.LIVE


def test_only_a_replay_that_delivered_journaled_statuses_has_them_forgotten() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    offline(session, journal, meter16("m-1", 99))
    session.hold_for_replay()
    journal.apply(session.upstream_restored(journal.backlog(), 10))
    out = journal.apply(session.receive_from_csms(result("m-1", {}), 11))
    assert ReplayFinished(statuses_delivered=False) in out  # none journaled: no write
    journal.apply(session.upstream_lost(12))
    offline(session, journal, status16("s-1"))
    assert journal.statuses
    session.hold_for_replay()
    (text,) = sent(journal.apply(session.upstream_restored(journal.backlog(), 13)), UP)
    out = journal.apply(session.receive_from_csms(result(json.loads(text)[1], {}), 14))
    assert ReplayFinished(statuses_delivered=True) in out
    assert journal.statuses == {}


def test_csms_callerror_to_a_replayed_frame_is_retried_then_given_up() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    offline(session, journal, stop16("e-1", 99), meter16("m-1", 99))
    session.hold_for_replay()
    journal.apply(session.upstream_restored(journal.backlog(), 10))
    # 1.6 §4.10 TransactionMessageAttempts: tried again, the same frame...
    for attempt in range(TRANSACTION_MESSAGE_ATTEMPTS - 1):
        out = journal.apply(session.receive_from_csms(error("e-1"), 11 + attempt))
        assert ReplayDelivered(1) not in out and sent(out, UP) == [stop16("e-1", 99)]
    # ...until the attempts are used up: then the replay moves on.
    out = journal.apply(session.receive_from_csms(error("e-1"), 20))
    assert ReplayDelivered(1) in out and sent(out, UP) == [meter16("m-1", 99)]


def test_only_the_replayed_frames_answer_is_taken_as_the_replays() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    offline(session, journal, stop16("e-1", 99))
    session.hold_for_replay()
    journal.apply(session.upstream_restored(journal.backlog(), 10))
    stray = result("other", {})
    assert session.receive_from_csms(stray, 11) == [
        Send(DOWN, stray),
        Relayed(DOWN, "CALLRESULT", ""),
    ]
    assert relay_of(session).state is UpstreamState.REPLAYING


def test_replayed_start_maps_the_id_for_later_replayed_and_live_frames() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    start, meter, stop = start16(), meter16("m-1", -1), stop16("e-1", -1, tag="LOCAL")
    offline(session, journal, start, meter, stop)
    got, _ = replay_all(session, journal, 10, lambda text: csms_answer(text, [CSMS_ID]))
    assert got == [start, with_transaction_id(meter, CSMS_ID), with_transaction_id(stop, CSMS_ID)]
    assert journal.mapped == {-1: CSMS_ID}
    # kept after the stop: the stop itself may have to be sent again
    assert relay_of(session).transaction_ids.transaction_map == {-1: CSMS_ID}


def test_live_frames_with_the_provisional_id_go_up_with_the_csms_id() -> None:
    session, _ = mapped_session()
    meter = meter16("m-5", -1)
    out = session.receive_from_charger(meter, 20)
    assert sent(out, UP) == [with_transaction_id(meter, CSMS_ID)]
    assert IdRemapped(UP) in out
    # the observation and the CSMS's answer stay in the charger's terms
    [sampled] = observed(out)
    assert isinstance(sampled, ev.MeterSampled) and sampled.transaction_id == "-1"
    answer = result("m-5", {})
    assert sent(session.receive_from_csms(answer, 21), DOWN) == [answer]
    other = meter16("m-6", -2)
    out = session.receive_from_charger(other, 22)
    assert sent(out, UP) == [other] and not of_type(out, IdRemapped)


def test_csms_calls_with_the_csms_id_reach_the_charger_with_the_provisional_id() -> None:
    session, _ = mapped_session()
    stop = call("cs-1", "RemoteStopTransaction", {"transactionId": CSMS_ID})
    out = session.receive_from_csms(stop, 20)
    assert sent(out, DOWN) == [call_text("cs-1", "RemoteStopTransaction", {"transactionId": -1})]
    assert IdRemapped(DOWN) in out
    session.receive_from_charger(result("cs-1", ACCEPTED), 21)

    profile = {
        "chargingProfileId": 7,
        "transactionId": CSMS_ID,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
        },
    }
    payload = {"connectorId": 1, "csChargingProfiles": profile}
    assert REGISTRY.check(V16, "SetChargingProfile", True, payload) is None
    out = session.receive_from_csms(call("cs-2", "SetChargingProfile", payload), 22)
    expected = {"connectorId": 1, "csChargingProfiles": {**profile, "transactionId": -1}}
    assert sent(out, DOWN) == [call_text("cs-2", "SetChargingProfile", expected)]
    assert IdRemapped(DOWN) in out
    session.receive_from_charger(result("cs-2", ACCEPTED), 23)

    unrelated = call("cs-3", "RemoteStopTransaction", {"transactionId": 12})
    out = session.receive_from_csms(unrelated, 24)
    assert sent(out, DOWN) == [unrelated] and not of_type(out, IdRemapped)


def test_live_stop_transaction_keeps_the_mapping() -> None:
    session, _ = mapped_session()
    stop = stop16("e-1", -1)
    out = session.receive_from_charger(stop, 20)
    assert sent(out, UP) == [with_transaction_id(stop, CSMS_ID)]
    session.receive_from_csms(result("e-1", {}), 21)
    late = call("cs-1", "RemoteStopTransaction", {"transactionId": CSMS_ID})
    (down,) = sent(session.receive_from_csms(late, 22), DOWN)
    assert json.loads(down) == [2, "cs-1", "RemoteStopTransaction", {"transactionId": -1}]


def test_transaction_started_live_keeps_its_csms_id_offline_and_in_the_replay() -> None:
    session, journal = make(), Journal()
    session.receive_from_charger(start16(), 0)
    session.receive_from_csms(result("s-1", {"transactionId": 77, "idTagInfo": ACCEPTED}), 1)
    session.upstream_lost(2)
    meter, stop = meter16("m-1", 77), stop16("e-1", 77)
    offline(session, journal, meter, stop)
    got, _ = replay_all(session, journal, 10)
    assert got == [meter, stop]  # the very same texts: nothing to rewrite
    assert relay_of(session).transaction_ids.provisional_ids == (-1, -2, -3)


def test_replayed_start_refused_by_the_csms_is_reported_with_the_chargers_id() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    offline(session, journal, start16(tag="STOLEN", connector=2))  # unknown: Invalid locally too
    offline(session, journal, start16("s-2", tag="LOCAL", connector=1))
    session.hold_for_replay()
    journal.apply(session.upstream_restored(journal.backlog(), 10))
    refused = {"transactionId": CSMS_ID, "idTagInfo": {"status": "Blocked"}}
    out = journal.apply(session.receive_from_csms(result("s-1", refused), 11))
    # The mapping is persisted first, then the refusal, by the provisional id the charger
    # knows. Both are journaled before the entry is acknowledged: a crash then loses neither.
    assert out.index(TransactionMapped(-1, CSMS_ID)) < out.index(TransactionRefused(-1, 2))
    assert out.index(TransactionRefused(-1, 2)) < out.index(ReplayDelivered(1))
    # Only then is the charger asked for its StopTransactionOnInvalidId (router/refusals.py).
    (ask,) = sent(out, DOWN)
    assert json.loads(ask)[2] == "GetConfiguration"
    assert out.index(TransactionRefused(-1, 2)) < out.index(Send(DOWN, ask))
    assert sent(out, UP) == [start16("s-2", tag="LOCAL", connector=1)]  # the replay goes on
    accepted = {"transactionId": CSMS_ID + 1, "idTagInfo": ACCEPTED}
    out = journal.apply(session.receive_from_csms(result("s-2", accepted), 13))
    assert ReplayFinished() in out
    assert not [o for o in out if isinstance(o, TransactionRefused)]


@pytest.mark.parametrize(
    ("event_type", "status", "refused"),
    [("Started", "Invalid", TransactionRefused("tx-1", 1)),
     ("Updated", "Blocked", TransactionRefused("tx-1", None)),  # no evse in the event: unknown
     ("Started", "Accepted", None), ("Ended", "Invalid", None)],
)  # fmt: skip
def test_replayed_transaction_event_refused_by_the_csms_is_reported_201(
    event_type: str, status: str, refused: TransactionRefused | None
) -> None:
    session, journal = make(V201), Journal()
    session.upstream_lost(0)
    offline(session, journal, event201("t-1", event_type))
    session.hold_for_replay()
    journal.apply(session.upstream_restored(journal.backlog(), 10))
    out = session.receive_from_csms(result("t-1", {"idTokenInfo": {"status": status}}), 11)
    assert ReplayDelivered(1) in out and ReplayFinished() in out
    asked = [json.loads(text)[2] for text in sent(out, DOWN)]
    assert asked == (["GetVariables"] if refused else [])  # the charger's StopTxOnInvalidId
    assert [o for o in out if isinstance(o, TransactionRefused)] == ([refused] if refused else [])


def test_a_refused_session_that_ends_later_in_the_backlog_is_left_alone() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    offline(session, journal, start16(tag="STOLEN"), stop16("e-1", -1))  # over before replay
    session.hold_for_replay()
    journal.apply(session.upstream_restored(journal.backlog(), 10))
    refused = {"transactionId": CSMS_ID, "idTagInfo": {"status": "Blocked"}}
    out = journal.apply(session.receive_from_csms(result("s-1", refused), 11))
    assert TransactionMapped(-1, CSMS_ID) in out  # still mapped: the stop goes up with its id
    assert not [o for o in out if isinstance(o, TransactionRefused)]


def test_a_refused_session_the_charger_stops_during_the_replay_is_left_alone() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    offline(session, journal, start16(tag="STOLEN"))
    session.hold_for_replay()
    journal.apply(session.upstream_restored(journal.backlog(), 10))
    assert session.receive_from_charger(stop16("e-1", -1), 10.5) == []  # waits behind replay
    refused = {"transactionId": CSMS_ID, "idTagInfo": {"status": "Blocked"}}
    out = journal.apply(session.receive_from_csms(result("s-1", refused), 11))
    assert not [o for o in out if isinstance(o, TransactionRefused)]
    assert [json.loads(text)[2] for text in sent(out, UP)] == ["StopTransaction"]


def test_a_refused_201_transaction_is_reported_once() -> None:
    session, journal = make(V201), Journal()
    session.upstream_lost(0)
    offline(session, journal, event201("t-1"), event201("t-2", "Updated", token=None))
    session.hold_for_replay()
    out = journal.apply(session.upstream_restored(journal.backlog(), 10))
    refused = {"idTokenInfo": {"status": "Blocked"}}
    outputs = list(out)
    for _ in range(2):
        (text,) = sent(out, UP)
        out = journal.apply(session.receive_from_csms(result(json.loads(text)[1], refused), 11))
        outputs += out
    assert ReplayFinished() in outputs
    reported = [o for o in outputs if isinstance(o, TransactionRefused)]
    assert reported == [TransactionRefused("tx-1", 1)]


def test_a_refused_201_event_without_its_evse_is_reported_with_the_evse_of_its_start() -> None:
    session, journal = make(V201), Journal()
    session.upstream_lost(0)
    offline(session, journal, event201("t-1"), event201("t-2", "Updated", token="LOCAL"))
    session.hold_for_replay()
    out = journal.apply(session.upstream_restored(journal.backlog(), 10))
    outputs = list(out)
    for status in ("Accepted", "Blocked"):
        (text,) = sent(out, UP)
        answer = result(json.loads(text)[1], {"idTokenInfo": {"status": status}})
        out = journal.apply(session.receive_from_csms(answer, 11))
        outputs += out
    reported = [o for o in outputs if isinstance(o, TransactionRefused)]
    assert reported == [TransactionRefused("tx-1", 1)]


def marked_offline(text: str) -> str:
    """The charger's text with the member added, not re-encoded: byte for byte up to it."""
    return text.removesuffix("}]") + ',"offline":true}]'


def test_replayed_transaction_events_are_marked_offline_201_statuses_unchanged() -> None:
    session, journal = make(V201), Journal()
    session.upstream_lost(0)
    first = event201("t-1")
    marked = event201("t-2", "Updated", token=None, offline=False, meterValue=SAMPLES_201)
    status = status201("st-1")
    offline(session, journal, first, marked, status)
    got, _ = replay_all(session, journal, 10)
    assert got == [marked_offline(first), marked, status]
    assert json.loads(got[0])[3] == {**json.loads(first)[3], "offline": True}


def test_event_in_flight_at_upstream_lost_is_replayed_byte_for_byte_201() -> None:
    # The CSMS may have got it before the link went: only an identical copy is a duplicate it
    # can recognise, so it is not marked offline like the events the LC answered from the start.
    session, journal = make(V201), Journal()
    live = event201("t-1", "Updated", token=None, meterValue=SAMPLES_201)
    assert sent(session.receive_from_charger(live, 0), UP) == [live]
    journal.apply(session.upstream_lost(1))
    later = event201("t-2", "Updated", token=None, meterValue=SAMPLES_201)
    offline(session, journal, later)
    got, _ = replay_all(session, journal, 10)
    assert got == [live, marked_offline(later)]


def test_replay_without_an_answer_sends_the_very_same_frame_again() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    start, meter = start16(), meter16("m-1", -1)
    offline(session, journal, start, meter)
    session.hold_for_replay()
    first = sent(journal.apply(session.upstream_restored(journal.backlog(), 100)), UP)
    assert first == [start]
    assert session.next_deadline() == 130
    assert sent(session.tick(129.9), UP) == []
    assert session.tick(130) == [Send(UP, start)]
    assert session.next_deadline() == 160
    assert session.tick(160) == [Send(UP, start)]
    answer = {"transactionId": CSMS_ID, "idTagInfo": ACCEPTED}
    out = journal.apply(session.receive_from_csms(result("s-1", answer), 170))
    assert of_type(out, ReplayDelivered) == [ReplayDelivered(1)]
    rewritten = sent(out, UP)
    assert rewritten == [with_transaction_id(meter, CSMS_ID)]
    assert session.next_deadline() == 200
    assert session.tick(200) == [Send(UP, rewritten[0])]  # identical text, id rewritten alike
    out = journal.apply(session.receive_from_csms(result("m-1", {}), 201))
    assert ReplayFinished() in out and session.next_deadline() is None
    assert session.tick(1000) == []


def test_replay_timeout_of_an_offline_marked_event_resends_identical_text_201() -> None:
    session, journal = make(V201), Journal()
    session.upstream_lost(0)
    offline(session, journal, event201("t-1"))
    session.hold_for_replay()
    (first,) = sent(session.upstream_restored(journal.backlog(), 0), UP)
    assert session.tick(TIMEOUT) == [Send(UP, first)]


def test_resent_replayed_stop_transaction_keeps_the_csms_id() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    offline(session, journal, start16(), stop16("e-1", -1))
    session.hold_for_replay()
    journal.apply(session.upstream_restored(journal.backlog(), 0))
    answer = {"transactionId": CSMS_ID, "idTagInfo": ACCEPTED}
    (stop,) = sent(journal.apply(session.receive_from_csms(result("s-1", answer), 1)), UP)
    assert json.loads(stop)[3]["transactionId"] == CSMS_ID
    assert session.tick(1 + TIMEOUT) == [Send(UP, stop)]


def test_stop_transaction_replayed_again_after_a_drop_keeps_the_csms_id() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    offline(session, journal, start16(), stop16("e-1", -1))
    session.hold_for_replay()
    journal.apply(session.upstream_restored(journal.backlog(), 0))
    answer = {"transactionId": CSMS_ID, "idTagInfo": ACCEPTED}
    journal.apply(session.receive_from_csms(result("s-1", answer), 1))
    journal.apply(session.upstream_lost(2))  # before the CSMS answered the StopTransaction
    got, _ = replay_all(session, journal, 10)
    assert [json.loads(t)[3]["transactionId"] for t in got] == [CSMS_ID]


def test_live_stop_in_flight_at_upstream_lost_is_replayed_with_the_csms_id() -> None:
    session, journal = mapped_session()
    stop = stop16("e-1", -1)
    assert sent(session.receive_from_charger(stop, 20), UP) == [with_transaction_id(stop, CSMS_ID)]
    out = journal.apply(session.upstream_lost(21))
    assert of_type(out, JournalAppend) == [JournalAppend(stop, None, sent_before=True)]
    got, _ = replay_all(session, journal, 30)
    assert got == [with_transaction_id(stop, CSMS_ID)]


def test_schema_invalid_answer_to_a_replayed_start_does_not_crash_the_session() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    offline(session, journal, start16(), meter16("m-1", -1))
    session.hold_for_replay()
    journal.apply(session.upstream_restored(journal.backlog(), 0))
    answer = {"transactionId": CSMS_ID, "idTagInfo": None}
    out = session.receive_from_csms(result("s-1", answer), 1)
    assert ReplayDelivered(1) in out and len(sent(out, UP)) == 1


# -- learning while LIVE -----------------------------------------------------------------------


def test_boot_answer_is_learned_and_used_by_later_local_answers() -> None:
    knowledge = OfflineKnowledge()
    session = make(knowledge=knowledge)
    boot = call("b-1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    session.receive_from_charger(boot, 0)
    answer = {"status": "Accepted", "currentTime": TS, "interval": 900}
    out = session.receive_from_csms(result("b-1", answer), 1)
    assert sent(out, DOWN) == [result("b-1", answer)]
    assert BootLearned("Accepted", 900) in out
    assert knowledge.boots == {CP: BootAnswer("Accepted", 900)}
    session.upstream_lost(2)
    out = session.receive_from_charger(boot.replace("b-1", "b-2"), 3)
    assert local_result(out)[2]["interval"] == 900
    # per charger: another charger sharing the knowledge keeps the default
    other = make(knowledge=knowledge, identity="CP2")
    other.upstream_lost(0)
    assert local_result(other.receive_from_charger(boot, 1))[2]["interval"] == 300


def test_authorization_is_learned_with_its_expiry_and_used_offline_until_then() -> None:
    knowledge, clock = OfflineKnowledge(), Clock()
    session = make(knowledge=knowledge, clock=clock)
    session.receive_from_charger(call("a-1", "Authorize", {"idTag": "TAG"}), 0)
    info = {"status": "Accepted", "expiryDate": "2026-11-25T11:00:00Z", "parentIdTag": "P"}
    out = session.receive_from_csms(result("a-1", {"idTagInfo": info}), 1)
    expiry = datetime(2026, 11, 25, 11, 0, tzinfo=UTC).timestamp()
    assert AuthorizationLearned("1.6", "TAG", info, expiry) in out
    assert knowledge.authorizations["1.6"]["TAG"] == (info, expiry)

    session.upstream_lost(2)
    out = session.receive_from_charger(call("a-2", "Authorize", {"idTag": "TAG"}), 3)
    assert local_result(out)[2] == {"idTagInfo": info}
    out = session.receive_from_charger(start16("s-1", tag="TAG"), 4)
    assert local_result(out)[2] == {"transactionId": -1, "idTagInfo": info}

    clock.now = WALL + timedelta(hours=1)  # the expiry itself
    out = session.receive_from_charger(call("a-3", "Authorize", {"idTag": "TAG"}), 5)
    assert local_result(out)[2] == {"idTagInfo": INVALID}


def test_learned_refusal_outranks_accept_unknown_ids() -> None:
    session = make(accept_unknown=True)
    session.receive_from_charger(start16("s-1", tag="THIEF"), 0)
    answer = {"transactionId": 5, "idTagInfo": {"status": "Blocked"}}
    out = session.receive_from_csms(result("s-1", answer), 1)
    assert AuthorizationLearned("1.6", "THIEF", {"status": "Blocked"}, None) in out
    session.upstream_lost(2)
    out = session.receive_from_charger(call("a-1", "Authorize", {"idTag": "THIEF"}), 3)
    assert local_result(out)[2] == {"idTagInfo": {"status": "Blocked"}}
    out = session.receive_from_charger(call("a-2", "Authorize", {"idTag": "NEW"}), 4)
    assert local_result(out)[2] == {"idTagInfo": ACCEPTED}


def test_authorizations_are_shared_by_chargers_of_the_same_version_family() -> None:
    knowledge = OfflineKnowledge()
    teacher = make(V201, knowledge=knowledge)
    token = {"idToken": "CARD", "type": "ISO14443"}
    teacher.receive_from_charger(call("a-1", "Authorize", {"idToken": token}), 0)
    info = {"status": "Accepted", "cacheExpiryDateTime": "2026-11-26T10:00:00Z"}
    out = teacher.receive_from_csms(result("a-1", {"idTokenInfo": info}), 1)
    expiry = datetime(2026, 11, 26, 10, 0, tzinfo=UTC).timestamp()
    assert AuthorizationLearned("2.x", "CARD", info, expiry) in out

    pupil = make(V201, knowledge=knowledge, identity="CP2")
    pupil.upstream_lost(0)
    out = pupil.receive_from_charger(event201("t-1", token="CARD"), 1)
    assert local_result(out)[2] == {"idTokenInfo": info}
    stranger = make(V16, knowledge=knowledge, identity="CP3")  # 1.6 keeps its own cache
    stranger.upstream_lost(0)
    out = stranger.receive_from_charger(call("a-1", "Authorize", {"idTag": "CARD"}), 1)
    assert local_result(out)[2] == {"idTagInfo": INVALID}


def test_replayed_answers_teach_authorizations_too() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    offline(session, journal, start16(tag="NEW"))
    session.hold_for_replay()
    journal.apply(session.upstream_restored(journal.backlog(), 10))
    answer = {"transactionId": CSMS_ID, "idTagInfo": ACCEPTED}
    out = session.receive_from_csms(result("s-1", answer), 11)
    assert AuthorizationLearned("1.6", "NEW", ACCEPTED, None) in out


# -- losing the CSMS again during the replay -----------------------------------------------------


def test_upstream_lost_during_replay_answers_the_held_calls_locally() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    meter = meter16("m-1", 99)
    offline(session, journal, meter)
    session.hold_for_replay()
    journal.apply(session.upstream_restored(journal.backlog(), 10))
    start, beat = start16("s-2"), HEARTBEAT
    assert session.receive_from_charger(start, 11) == []
    assert session.receive_from_charger(beat, 12) == []

    out = journal.apply(session.upstream_lost(13))
    assert relay_of(session).state is UpstreamState.DOWN
    assert [json.loads(t)[1] for t in sent(out, DOWN)] == ["s-2", "hb-1"]
    assert of_type(out, JournalAppend) == [JournalAppend(start, -1)]
    assert sent(out, UP) == []
    assert session.next_deadline() is None  # the replay deadline went with the link
    assert session.tick(10 + TIMEOUT) == []

    # the frame in flight was never acknowledged: the next replay starts with it again
    got, _ = replay_all(session, journal, 50, lambda text: csms_answer(text, [CSMS_ID]))
    assert got == [meter, start]
    assert journal.pending == {}


def test_upstream_lost_before_the_backlog_is_read_answers_the_held_calls_locally() -> None:
    session = make()
    session.upstream_lost(0)
    session.hold_for_replay()
    assert session.receive_from_charger(HEARTBEAT, 1) == []
    out = session.upstream_lost(2)
    assert local_result(out) == [3, "hb-1", {"currentTime": WALL_TEXT}]
    assert relay_of(session).held == ()


# -- the whole round trip --------------------------------------------------------------------


Op = tuple[int, str]  # (connector, "start" | "meter" | "stop" | status | "heartbeat")


@st.composite
def outages(draw: st.DrawFn) -> list[Op]:
    """What a 1.6 charger does during an outage: sessions on two connectors, statuses and
    heartbeats, interleaved (each connector's own messages in order)."""
    streams: list[list[Op]] = []
    for connector in (1, 2):
        stream: list[Op] = []
        for _ in range(draw(st.integers(0, 2))):
            stream.append((connector, "start"))
            stream += [(connector, "meter")] * draw(st.integers(0, 2))
            if draw(st.booleans()):
                stream.append((connector, "stop"))
            stream.append((connector, draw(st.sampled_from(["Charging", "Finishing"]))))
        streams.append(stream)
    order = draw(st.permutations([0] * len(streams[0]) + [1] * len(streams[1])))
    merged = [streams[n].pop(0) for n in order]
    for at in sorted(draw(st.lists(st.integers(0, len(merged)), max_size=3)), reverse=True):
        merged.insert(at, (0, "heartbeat"))
    return merged


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=outages())
def test_outage_round_trip_delivers_every_journaled_frame_once_in_order(ops: list[Op]) -> None:
    session, journal = make(reserve=range(-1, -20, -1)), Journal()
    session.upstream_lost(0)
    open_by_connector: dict[int, int] = {}  # the provisional id the charger was given
    journaled: list[str] = []
    latest_status: dict[int, str] = {}
    for n, (connector, op) in enumerate(ops):
        message_id = f"{op}-{n}"
        if op == "start":
            frame = start16(message_id, connector=connector)
        elif op == "meter":
            frame = meter16(message_id, open_by_connector[connector], connector)
        elif op == "stop":
            frame = stop16(message_id, open_by_connector.pop(connector))
        elif op == "heartbeat":
            frame = call(message_id, "Heartbeat", {})
        else:
            frame = latest_status[connector] = status16(message_id, connector, op)
        out = offline(session, journal, frame)
        if op == "start":
            open_by_connector[connector] = local_result(out)[2]["transactionId"]
        if op in ("start", "meter", "stop"):
            journaled.append(frame)

    csms_ids = iter(range(1000, 2000))
    got, _ = replay_all(session, journal, 100, lambda text: csms_answer(text, csms_ids))
    # provisional ids -1, -2, ... were handed out in journal order; the CSMS numbers the
    # replayed starts 1000, 1001, ... in the same order
    mapping: dict[int, int] = {}
    expected: list[str] = []
    for text in journaled:
        _t, message_id, action, payload = json.loads(text)
        if action == "StartTransaction":
            mapping[-1 - len(mapping)] = 1000 + len(mapping)
            expected.append(text)
        else:
            expected.append(with_transaction_id(text, mapping[payload["transactionId"]]))
    expected += [latest_status[c] for c in sorted(latest_status)]  # one per connector
    assert got == expected
    assert journal.pending == {} and journal.statuses == {}


def test_second_answer_to_a_resent_replayed_frame_never_reaches_the_charger() -> None:
    session, journal = make(), Journal()
    session.upstream_lost(0)
    offline(session, journal, start16(), meter16("m-1", -1))
    session.hold_for_replay()
    journal.apply(session.upstream_restored(journal.backlog(), 0))
    assert session.tick(TIMEOUT) == [Send(UP, start16())]
    answer = result("s-1", {"transactionId": CSMS_ID, "idTagInfo": ACCEPTED})
    journal.apply(session.receive_from_csms(answer, TIMEOUT + 1))  # the first send's answer
    out = session.receive_from_csms(answer, TIMEOUT + 2)  # the resend's answer
    assert sent(out, DOWN) == []
