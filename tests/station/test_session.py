"""The LC's own session, sans-I/O: text and time in, outputs out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router.schemas import default_registry
from station.backoff import BackOff, reconnect_delay
from station.dialect import StationIdentity
from station.session import (
    BootAnswered,
    CallAnswered,
    CallFailed,
    IncomingCall,
    LinkState,
    Output,
    Send,
    SessionTimers,
    StationSession,
    Triggered,
)

IDENTITY = StationIdentity("Example", "LocalController", None, "0.1.0")
NOW = 1_800_000_000.0


def sent(outputs: list[Output]) -> list[list[Any]]:
    return [json.loads(o.text) for o in outputs if isinstance(o, Send)]


def accepted_session(interval: int = 300) -> StationSession:
    session = StationSession(IDENTITY, default_registry(), SessionTimers(message_timeout_s=5))
    (boot,) = sent(session.connected(NOW))
    answer = {"currentTime": "2027-01-15T08:00:00Z", "interval": interval, "status": "Accepted"}
    session.receive(json.dumps([3, boot[1], answer]), NOW)
    assert session.state is LinkState.ACCEPTED
    return session


def test_one_call_outstanding_at_a_time_and_the_next_after_its_answer() -> None:
    session = accepted_session()
    first, outputs = session.call("DataTransfer", {"vendorId": "a"}, NOW)
    assert [f[1] for f in sent(outputs)] == [first]
    second, outputs = session.call("DataTransfer", {"vendorId": "b"}, NOW)
    assert sent(outputs) == []
    outputs = session.receive(json.dumps([3, first, {"status": "Accepted"}]), NOW + 1)
    assert CallAnswered(first, "DataTransfer", {"status": "Accepted"}) in outputs
    assert [f[1] for f in sent(outputs)] == [second]


def test_an_unanswered_call_fails_at_its_timeout_and_a_late_reply_is_dropped() -> None:
    session = accepted_session()
    first, _ = session.call("DataTransfer", {"vendorId": "a"}, NOW)
    second, _ = session.call("DataTransfer", {"vendorId": "b"}, NOW)
    assert session.next_deadline() == NOW + 5
    outputs = session.tick(NOW + 5)
    assert CallFailed(first, "DataTransfer", "no answer in time") in outputs
    assert [f[1] for f in sent(outputs)] == [second]
    late = session.receive(json.dumps([3, first, {"status": "Accepted"}]), NOW + 6)
    assert late == []


def test_a_schema_invalid_answer_fails_the_call() -> None:
    session = accepted_session()
    first, _ = session.call("DataTransfer", {"vendorId": "a"}, NOW)
    outputs = session.receive(json.dumps([3, first, {"status": "Maybe"}]), NOW)
    (failed,) = [o for o in outputs if isinstance(o, CallFailed)]
    assert failed.message_id == first and "status" in failed.reason


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ([2, "c1", "TriggerMessage", {}], "OccurrenceConstraintViolation"),
        ([2, "c2", "TriggerMessage", {"requestedMessage": 5}], "TypeConstraintViolation"),
        ([2, "c3", "NoSuchAction", {}], "NotImplemented"),
    ],
)
def test_an_invalid_csms_call_gets_the_callerror_the_spec_names(
    frame: list[Any], code: str
) -> None:
    session = accepted_session()
    (error,) = sent(session.receive(json.dumps(frame), NOW))
    assert error[:3] == [4, frame[1], code]


def test_a_handler_answer_that_breaks_the_schema_goes_out_as_internal_error() -> None:
    session = accepted_session()
    call = [2, "c1", "DataTransfer", {"vendorId": "x"}]
    (incoming,) = session.receive(json.dumps(call), NOW)
    assert incoming == IncomingCall("c1", "DataTransfer", {"vendorId": "x"})
    (error,) = sent(session.answer("c1", {"status": "Fine"}, NOW))
    assert error[:3] == [4, "c1", "InternalError"]
    assert session.answer("c1", {"status": "Accepted"}, NOW) == []  # answered once only


def test_a_registered_trigger_is_accepted_and_handed_on_after_the_answer() -> None:
    session = accepted_session()

    def trigger(message_id: str, **extra: Any) -> str:
        request = {"requestedMessage": "SignChargingStationCertificate", **extra}
        return json.dumps([2, message_id, "TriggerMessage", request])

    unknown = sent(session.receive(trigger("t1"), NOW))
    assert unknown == [[3, "t1", {"status": "NotImplemented"}]]
    session.allow_trigger("SignChargingStationCertificate")
    answer, triggered = session.receive(trigger("t2"), NOW)
    assert sent([answer]) == [[3, "t2", {"status": "Accepted"}]]
    assert triggered == Triggered("SignChargingStationCertificate")
    evse = sent(session.receive(trigger("t3", evse={"id": 1}), NOW))
    assert evse == [[3, "t3", {"status": "Rejected"}]]


def test_heartbeat_when_nothing_was_sent_for_the_interval() -> None:
    session = accepted_session(interval=60)
    assert session.next_deadline() == NOW + 60
    assert sent(session.tick(NOW + 59)) == []
    (heartbeat,) = sent(session.tick(NOW + 60))
    assert heartbeat[2] == "Heartbeat"


def test_pending_holds_the_lc_calls_until_accepted() -> None:
    session = StationSession(IDENTITY, default_registry())
    (boot,) = sent(session.connected(NOW))
    pending = {"currentTime": "2027-01-15T08:00:00Z", "interval": 10, "status": "Pending"}
    outputs = session.receive(json.dumps([3, boot[1], pending]), NOW)
    assert BootAnswered("Pending", 10) in outputs
    held, outputs = session.call("DataTransfer", {"vendorId": "a"}, NOW)
    assert sent(outputs) == []
    (retry,) = sent(session.tick(NOW + 10))
    assert retry[2] == "BootNotification"
    accepted = dict(pending, status="Accepted")
    outputs = session.receive(json.dumps([3, retry[1], accepted]), NOW + 10)
    assert [f[1] for f in sent(outputs)] == [held]


def test_a_lost_link_fails_the_outstanding_call_and_keeps_the_queue() -> None:
    session = accepted_session()
    first, _ = session.call("DataTransfer", {"vendorId": "a"}, NOW)
    second, _ = session.call("DataTransfer", {"vendorId": "b"}, NOW)
    assert session.disconnected() == [CallFailed(first, "DataTransfer", "link lost")]
    assert [f[1] for f in sent(session.connected(NOW + 1))] == [second]


def test_the_lc_refuses_to_send_a_call_the_schema_rejects() -> None:
    session = accepted_session()
    with pytest.raises(ValueError, match="DataTransfer"):
        session.call("DataTransfer", {}, NOW)


def test_reconnect_back_off_doubles_up_to_the_repeat_times() -> None:
    backoff = BackOff(wait_minimum_s=10, random_range_s=4, repeat_times=2)
    waits = [reconnect_delay(backoff, failures, 0.5) for failures in range(1, 6)]
    assert waits == [12, 22, 42, 42, 42]
