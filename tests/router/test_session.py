"""LinkSession: routing (Part 4 §4.1.1, §6.4), validation policy and observation, sans I/O.

Every test drives the session with texts and explicit `now` values; nothing sleeps.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router import events as ev
from router.frames import CallError, CallResult, ErrorKind, OcppVersion
from router.outputs import (
    Direction,
    LateReplyDropped,
    LcCallFinished,
    Observed,
    Output,
    Relayed,
    Send,
    Violation,
)
from router.schemas import default_registry
from router.session import LinkSession, SessionSettings
from router.validation import ValidationMode

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
UP, DOWN = Direction.TO_CSMS, Direction.TO_CHARGER
OBSERVE, STRICT = ValidationMode.OBSERVE, ValidationMode.STRICT
TS = "2026-11-25T10:00:00Z"
CP = "CP1"
TIMEOUT = 30.0


def make_session(version: OcppVersion = V16, **settings: Any) -> LinkSession:
    settings.setdefault("call_timeout_s", TIMEOUT)
    return LinkSession(CP, version, SessionSettings(**settings), default_registry())


def call(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return json.dumps([2, message_id, action, payload])


def result(message_id: str, payload: dict[str, Any]) -> str:
    return json.dumps([3, message_id, payload])


def error(message_id: str, code: str = "InternalError", description: str = "") -> str:
    return json.dumps([4, message_id, code, description, {}])


def sent(outputs: list[Output], direction: Direction | None = None) -> list[str]:
    return [o.text for o in outputs if isinstance(o, Send) and direction in (None, o.direction)]


def observed(outputs: list[Output]) -> list[ev.Event]:
    return [o.event for o in outputs if isinstance(o, Observed)]


def violations(outputs: list[Output]) -> list[Violation]:
    return [o for o in outputs if isinstance(o, Violation)]


def relay(direction: Direction, text: str, message_type: str, action: str) -> list[Output]:
    return [Send(direction, text), Relayed(direction, message_type, action)]


def lc_call(session: LinkSession, now: float, **kw: Any) -> tuple[str, list[Output]]:
    """An LC call the charger can answer with {"status": "Accepted"} (both versions)."""
    payload = {"requestedMessage": "StatusNotification"}
    return session.send_lc_call("TriggerMessage", payload, now, **kw)


def csms_call(message_id: str) -> str:
    """A 1.6 CSMS call; answered with {"status": "Accepted"}."""
    return call(message_id, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})


ACCEPTED = {"status": "Accepted"}
HEARTBEAT = '[2,"hb-1","Heartbeat",{}]'


# -- relaying ---------------------------------------------------------------------------------


def test_charger_call_is_relayed_as_the_very_same_text() -> None:
    session = make_session()
    text = ' [ 2 ,\t"c-1" , "DataTransfer" , {"vendorId":"Ünï","data":"€ x"} ]\n'
    out = session.receive_from_charger(text, now=0)
    assert out == relay(UP, text, "CALL", "DataTransfer")
    assert isinstance(out[0], Send) and out[0].text is text


def test_csms_answer_is_relayed_back_to_the_charger_unchanged() -> None:
    session = make_session()
    session.receive_from_charger(HEARTBEAT, now=0)
    answer = '[3, "hb-1", {"currentTime": "2026-11-25T10:00:00.000Z"}]'
    out = session.receive_from_csms(answer, now=1)
    assert out == relay(DOWN, answer, "CALLRESULT", "Heartbeat")
    assert isinstance(out[0], Send) and out[0].text is answer
    assert session.next_deadline() is None  # the charger's call is answered


def test_csms_callerror_answer_is_relayed_with_its_code() -> None:
    session = make_session()
    session.receive_from_charger(HEARTBEAT, now=0)
    answer = error("hb-1", "InternalError", "down")
    out = session.receive_from_csms(answer, now=1)
    assert out == [Send(DOWN, answer), Relayed(DOWN, "CALLERROR", "Heartbeat", "InternalError")]


def test_csms_call_is_relayed_to_the_charger_and_its_answer_back() -> None:
    session = make_session()
    text = csms_call("m-1")
    assert session.receive_from_csms(text, now=0) == relay(DOWN, text, "CALL", "ChangeAvailability")
    answer = result("m-1", ACCEPTED)
    out = session.receive_from_charger(answer, now=1)
    assert out == relay(UP, answer, "CALLRESULT", "ChangeAvailability")


def test_csms_calls_are_not_held_back_behind_other_csms_calls() -> None:
    session = make_session()
    first, second = csms_call("m-1"), csms_call("m-2")
    assert sent(session.receive_from_csms(first, now=0)) == [first]
    assert sent(session.receive_from_csms(second, now=0)) == [second]
    assert session.queue_depth == 0


def test_answer_nobody_waits_for_is_relayed_by_its_id() -> None:
    session = make_session()
    stray = result("unknown-1", {})
    assert session.receive_from_csms(stray, now=0) == relay(DOWN, stray, "CALLRESULT", "")
    stray_error = error("unknown-2", "GenericError")
    assert session.receive_from_charger(stray_error, now=0) == [
        Send(UP, stray_error),
        Relayed(UP, "CALLERROR", "", "GenericError"),
    ]


# -- LC calls ---------------------------------------------------------------------------------


def test_lc_call_goes_out_at_once_with_a_uuid_id_when_nothing_is_outstanding() -> None:
    session = make_session()
    message_id, out = lc_call(session, now=0)
    assert uuid.UUID(message_id).version == 4
    assert len(out) == 1 and isinstance(out[0], Send) and out[0].direction is DOWN
    assert json.loads(out[0].text) == [
        2,
        message_id,
        "TriggerMessage",
        {"requestedMessage": "StatusNotification"},
    ]
    assert session.queue_depth == 0


def test_lc_call_ids_are_unique() -> None:
    session = make_session()
    ids = {lc_call(session, now=0)[0] for _ in range(20)}
    assert len(ids) == 20


def test_lc_call_waits_while_a_csms_call_is_outstanding_and_goes_after_its_answer() -> None:
    session = make_session()
    session.receive_from_csms(csms_call("m-1"), now=0)
    message_id, out = lc_call(session, now=1)
    assert out == []
    assert session.queue_depth == 1
    answer = result("m-1", ACCEPTED)
    out = session.receive_from_charger(answer, now=2)
    # the CSMS gets its answer first, then the LC call goes to the charger
    assert out[:2] == relay(UP, answer, "CALLRESULT", "ChangeAvailability")
    assert len(out) == 3 and isinstance(out[2], Send) and out[2].direction is DOWN
    assert json.loads(out[2].text)[1] == message_id
    assert session.queue_depth == 0


def test_lc_call_waits_while_a_charger_callerror_is_pending_too() -> None:
    session = make_session()
    session.receive_from_csms(csms_call("m-1"), now=0)
    message_id, _ = lc_call(session, now=0)
    out = session.receive_from_charger(error("m-1", "NotSupported"), now=1)
    assert [json.loads(text)[1] for text in sent(out, DOWN)] == [message_id]


def test_csms_call_waits_while_an_lc_call_is_outstanding_and_goes_after_its_answer() -> None:
    session = make_session()
    message_id, _ = lc_call(session, now=0)
    text = csms_call("m-1")
    assert session.receive_from_csms(text, now=1) == []
    assert session.queue_depth == 1
    out = session.receive_from_charger(result(message_id, ACCEPTED), now=2)
    assert out == [
        LcCallFinished(message_id, CallResult(message_id, ACCEPTED)),
        *relay(DOWN, text, "CALL", "ChangeAvailability"),
    ]
    assert sent(out, UP) == []


def test_csms_call_waiting_behind_an_lc_call_goes_out_when_the_lc_call_times_out() -> None:
    session = make_session()
    message_id, _ = lc_call(session, now=0)
    text = csms_call("m-1")
    session.receive_from_csms(text, now=1)
    assert session.tick(TIMEOUT - 0.001) == []
    out = session.tick(TIMEOUT)
    assert out == [
        LcCallFinished(message_id, None),
        *relay(DOWN, text, "CALL", "ChangeAvailability"),
    ]


def test_fifo_order_is_kept_across_csms_and_lc_calls() -> None:
    session = make_session()
    session.receive_from_csms(csms_call("m-1"), now=0)  # outstanding at the charger
    lc_1, out = lc_call(session, now=1)
    assert out == []
    assert session.receive_from_csms(csms_call("m-2"), now=2) == []  # behind lc_1
    lc_2, out = lc_call(session, now=3)
    assert out == []
    assert session.queue_depth == 3

    out = session.receive_from_charger(result("m-1", ACCEPTED), now=4)
    assert [json.loads(t)[1] for t in sent(out, DOWN)] == [lc_1]
    out = session.receive_from_charger(result(lc_1, ACCEPTED), now=5)
    assert [json.loads(t)[1] for t in sent(out, DOWN)] == ["m-2"]
    out = session.receive_from_charger(result("m-2", ACCEPTED), now=6)
    assert sent(out, UP) == [result("m-2", ACCEPTED)]
    assert [json.loads(t)[1] for t in sent(out, DOWN)] == [lc_2]
    out = session.receive_from_charger(result(lc_2, ACCEPTED), now=7)
    assert out == [LcCallFinished(lc_2, CallResult(lc_2, ACCEPTED))]
    assert session.queue_depth == 0 and session.next_deadline() is None


def test_charger_result_to_an_lc_call_finishes_it_and_never_reaches_the_csms() -> None:
    session = make_session()
    message_id, _ = lc_call(session, now=0)
    out = session.receive_from_charger(result(message_id, ACCEPTED), now=1)
    assert out == [LcCallFinished(message_id, CallResult(message_id, ACCEPTED))]
    assert session.next_deadline() is None


def test_charger_callerror_to_an_lc_call_finishes_it_and_never_reaches_the_csms() -> None:
    session = make_session()
    message_id, _ = lc_call(session, now=0)
    out = session.receive_from_charger(error(message_id, "NotSupported", "no"), now=1)
    assert out == [LcCallFinished(message_id, CallError(message_id, "NotSupported", "no", {}))]


def test_lc_call_timeout_then_the_late_answer_is_dropped_not_relayed() -> None:
    session = make_session()
    message_id, _ = lc_call(session, now=0)
    assert session.next_deadline() == TIMEOUT
    assert session.tick(TIMEOUT - 0.5) == []
    assert session.tick(TIMEOUT) == [LcCallFinished(message_id, None)]
    assert session.tick(TIMEOUT + 1) == []  # finished once only
    late = session.receive_from_charger(result(message_id, ACCEPTED), now=TIMEOUT + 2)
    assert late == [LateReplyDropped(message_id)]


def test_repeated_late_answer_to_a_timed_out_lc_call_never_reaches_the_csms() -> None:
    session = make_session()
    message_id, _ = lc_call(session, now=0)
    session.tick(TIMEOUT)
    session.receive_from_charger(result(message_id, ACCEPTED), now=TIMEOUT + 1)
    again = session.receive_from_charger(result(message_id, ACCEPTED), now=TIMEOUT + 2)
    assert sent(again, UP) == []


def test_late_callerror_to_a_timed_out_lc_call_is_dropped_too() -> None:
    session = make_session()
    message_id, _ = lc_call(session, now=0)
    session.tick(TIMEOUT)
    late = session.receive_from_charger(error(message_id), now=TIMEOUT + 1)
    assert late == [LateReplyDropped(message_id)]


def test_answer_to_a_csms_call_after_the_lc_stopped_tracking_it_is_still_relayed() -> None:
    session = make_session()
    session.receive_from_csms(csms_call("m-1"), now=0)
    assert session.tick(TIMEOUT) == []  # no LC call ended, nothing to say
    assert session.next_deadline() is None
    answer = result("m-1", ACCEPTED)
    out = session.receive_from_charger(answer, now=TIMEOUT + 5)
    assert out == relay(UP, answer, "CALLRESULT", "")


def test_csms_call_timeout_frees_the_charger_for_a_waiting_lc_call() -> None:
    session = make_session()
    session.receive_from_csms(csms_call("m-1"), now=0)
    message_id, _ = lc_call(session, now=1, timeout_s=60)
    out = session.tick(TIMEOUT)
    assert [json.loads(t)[1] for t in sent(out, DOWN)] == [message_id]


def test_late_csms_answer_to_a_charger_call_is_still_relayed_to_the_charger() -> None:
    session = make_session()
    session.receive_from_charger(HEARTBEAT, now=0)
    session.tick(TIMEOUT)
    answer = result("hb-1", {"currentTime": TS})
    assert session.receive_from_csms(answer, now=TIMEOUT + 1) == relay(
        DOWN, answer, "CALLRESULT", ""
    )


def test_queued_lc_call_that_was_never_sent_times_out() -> None:
    session = make_session()
    session.receive_from_csms(csms_call("m-1"), now=0)
    message_id, out = lc_call(session, now=1, timeout_s=5)
    assert out == []
    assert session.next_deadline() == 6
    assert session.tick(5.9) == []
    assert session.tick(6) == [LcCallFinished(message_id, None)]
    assert session.queue_depth == 0
    # the charger's later answer to the CSMS call releases nothing
    answer = result("m-1", ACCEPTED)
    out = session.receive_from_charger(answer, now=7)
    assert out == relay(UP, answer, "CALLRESULT", "ChangeAvailability")


def test_lc_call_timeout_s_bounds_the_wait_for_the_answer_once_sent() -> None:
    session = make_session()
    message_id, _ = lc_call(session, now=0, timeout_s=5)
    assert session.next_deadline() == 5
    assert session.tick(4.9) == []
    assert session.tick(5) == [LcCallFinished(message_id, None)]


def test_queued_lc_call_gets_its_full_timeout_s_again_once_sent() -> None:
    session = make_session()
    session.receive_from_csms(csms_call("m-1"), now=0)
    message_id, _ = lc_call(session, now=1, timeout_s=5)  # gives up at 6 if still queued
    session.receive_from_charger(result("m-1", ACCEPTED), now=3)  # sent at 3
    assert session.next_deadline() == 8
    assert session.tick(7.9) == []
    assert session.tick(8) == [LcCallFinished(message_id, None)]


def test_next_deadline_is_the_earliest_pending_deadline() -> None:
    session = make_session()
    assert session.next_deadline() is None
    session.receive_from_charger(HEARTBEAT, now=10)  # waits for the CSMS until 40
    assert session.next_deadline() == 40
    session.receive_from_csms(csms_call("m-1"), now=12)  # waits for the charger until 42
    assert session.next_deadline() == 40
    lc_call(session, now=13, timeout_s=2)  # queued, gives up at 15
    assert session.next_deadline() == 15
    session.tick(15)
    session.receive_from_csms(result("hb-1", {"currentTime": TS}), now=16)
    assert session.next_deadline() == 42
    session.receive_from_charger(result("m-1", ACCEPTED), now=17)
    assert session.next_deadline() is None


def test_csms_call_deadline_starts_when_it_is_sent_not_when_it_was_queued() -> None:
    session = make_session()
    message_id, _ = lc_call(session, now=0)
    session.receive_from_csms(csms_call("m-1"), now=1)
    session.receive_from_charger(result(message_id, ACCEPTED), now=10)
    assert session.next_deadline() == 10 + TIMEOUT


def test_call_timeout_comes_from_the_settings() -> None:
    session = make_session(call_timeout_s=7.5)
    session.receive_from_charger(HEARTBEAT, now=100)
    assert session.next_deadline() == 107.5


def test_close_ends_every_open_lc_call_and_forgets_the_rest() -> None:
    session = make_session()
    sent_id, _ = lc_call(session, now=0)
    queued_id, _ = lc_call(session, now=1)
    session.receive_from_csms(csms_call("m-1"), now=2)
    session.receive_from_charger(HEARTBEAT, now=3)
    assert session.queue_depth == 2
    assert session.close() == [LcCallFinished(sent_id, None), LcCallFinished(queued_id, None)]
    assert session.queue_depth == 0
    assert session.next_deadline() is None
    assert session.tick(1000) == []


def test_close_without_lc_calls_ends_nothing() -> None:
    session = make_session()
    session.receive_from_csms(csms_call("m-1"), now=0)
    assert session.close() == []


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("TriggerMessage", {"requestedMessage": "Coffee"}),
        ("TriggerMessage", {}),
        ("TriggerMessage", {"requestedMessage": "StatusNotification", "extra": 1}),
        ("MakeCoffee", {}),
    ],
)
def test_send_lc_call_with_a_schema_invalid_payload_raises(
    action: str, payload: dict[str, Any]
) -> None:
    session = make_session()
    with pytest.raises(ValueError, match=action):
        session.send_lc_call(action, payload, now=0)
    assert session.queue_depth == 0
    assert session.next_deadline() is None


def test_send_lc_call_checks_against_the_links_version() -> None:
    session = make_session(V201)
    with pytest.raises(ValueError):  # 1.6 shape of ChangeAvailability
        session.send_lc_call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}, 0)
    message_id, out = session.send_lc_call(
        "ChangeAvailability", {"operationalStatus": "Inoperative"}, now=0
    )
    assert json.loads(sent(out, DOWN)[0])[1] == message_id


# -- frames that cannot be routed -------------------------------------------------------------

_CODES = {
    V16: {
        "rpc": "FormationViolation",
        "format": "FormationViolation",
        "oversize": "FormationViolation",
    },
    V201: {"rpc": "RpcFrameworkError", "format": "FormatViolation", "oversize": "FormatViolation"},
    V21: {"rpc": "RpcFrameworkError", "format": "FormatViolation", "oversize": "FormatViolation"},
}
_OVERSIZE_CALL = call("big", "DataTransfer", {"vendorId": "v", "data": "y" * 2000})
BAD_FRAMES = [
    ("this is not json", ErrorKind.RPC_FRAMEWORK, "rpc", "-1"),
    ('[2, "abc", "Heartbeat", {', ErrorKind.RPC_FRAMEWORK, "rpc", "abc"),
    ('[2, 17, "Heartbeat", {}]', ErrorKind.RPC_FRAMEWORK, "rpc", "-1"),
    ('{"not": "an array"}', ErrorKind.RPC_FRAMEWORK, "rpc", "-1"),
    ('[2,"p1","Heartbeat",[]]', ErrorKind.FORMAT, "format", "p1"),
    ('[2,"p2","Heartbeat"]', ErrorKind.FORMAT, "format", "p2"),
    (_OVERSIZE_CALL, ErrorKind.OVERSIZE, "oversize", "big"),
]


@pytest.mark.parametrize("version", [V16, V201, V21])
@pytest.mark.parametrize(("text", "kind", "code", "answer_id"), BAD_FRAMES)
@pytest.mark.parametrize("from_charger", [True, False], ids=["from_charger", "from_csms"])
def test_bad_frame_is_rejected_and_answered_with_the_versions_callerror(
    version: OcppVersion,
    text: str,
    kind: ErrorKind,
    code: str,
    answer_id: str,
    from_charger: bool,
) -> None:
    session = make_session(version, max_frame_chars=1024)
    receive = session.receive_from_charger if from_charger else session.receive_from_csms
    forward, back = (UP, DOWN) if from_charger else (DOWN, UP)
    out = receive(text, 0)
    assert len(out) == 2
    violation, answer = out
    assert isinstance(violation, Violation)
    assert (violation.direction, violation.kind, violation.action, violation.rejected) == (
        forward,
        kind,
        None,
        True,
    )
    assert isinstance(answer, Send) and answer.direction is back
    frame = json.loads(answer.text)
    assert frame[:3] == [4, answer_id, _CODES[version][code]]
    assert isinstance(frame[3], str) and len(frame[3]) <= 255
    assert frame[4] == {}
    assert session.next_deadline() is None and session.queue_depth == 0


@pytest.mark.parametrize("version", [V201, V21])
@pytest.mark.parametrize("from_charger", [True, False], ids=["from_charger", "from_csms"])
def test_unknown_message_type_is_answered_with_message_type_not_supported(
    version: OcppVersion, from_charger: bool
) -> None:
    session = make_session(version)
    receive = session.receive_from_charger if from_charger else session.receive_from_csms
    out = receive('[7,"m1","Heartbeat",{}]', 0)
    assert [v.kind for v in violations(out)] == [ErrorKind.MESSAGE_TYPE]
    assert [json.loads(t)[:3] for t in sent(out)] == [[4, "m1", "MessageTypeNotSupported"]]


@pytest.mark.parametrize("text", ['[7,"m1","Heartbeat",{}]', '[6,"s1","Heartbeat",{}]'])
@pytest.mark.parametrize("from_charger", [True, False], ids=["from_charger", "from_csms"])
def test_ocpp16_unknown_message_type_is_dropped_without_an_answer(
    text: str, from_charger: bool
) -> None:
    session = make_session(V16)
    receive = session.receive_from_charger if from_charger else session.receive_from_csms
    out = receive(text, 0)
    assert len(out) == 1
    assert isinstance(out[0], Violation)
    assert (out[0].kind, out[0].rejected) == (ErrorKind.MESSAGE_TYPE, True)


@pytest.mark.parametrize("text", ['[3,"m-1",[]]', '[3,"m-1",{"status":', '[4,"m-1","X","d"]'])
def test_bad_answer_frame_is_dropped_without_an_answer(text: str) -> None:
    session = make_session()
    session.receive_from_csms(csms_call("m-1"), now=0)
    out = session.receive_from_charger(text, now=1)
    assert len(out) == 1 and isinstance(out[0], Violation) and out[0].rejected
    # not an answer: the CSMS call is still outstanding and keeps LC calls waiting
    assert lc_call(session, now=2)[1] == []
    assert session.queue_depth == 1


# -- validation: observe and strict ------------------------------------------------------------

BAD_STATUS = call(
    "s-1", "StatusNotification", {"connectorId": "1", "errorCode": "NoError", "status": "Charging"}
)
BAD_CSMS_CALL = call("m-9", "ChangeAvailability", {"connectorId": 1, "type": "Sideways"})


def test_schema_invalid_charger_call_in_observe_mode_is_relayed_and_reported() -> None:
    session = make_session()
    out = session.receive_from_charger(BAD_STATUS, now=0)
    # relayed first, reported after: in observe mode the check never delays the frame
    assert out[:2] == relay(UP, BAD_STATUS, "CALL", "StatusNotification")
    (violation,) = violations(out)
    assert (violation.direction, violation.kind, violation.action, violation.rejected) == (
        UP,
        ErrorKind.TYPE,
        "StatusNotification",
        False,
    )
    assert "connectorId" in violation.detail
    assert session.next_deadline() == TIMEOUT  # tracked like any relayed call


def test_schema_invalid_csms_call_in_observe_mode_is_relayed_and_reported() -> None:
    session = make_session()
    out = session.receive_from_csms(BAD_CSMS_CALL, now=0)
    assert out[1:] == relay(DOWN, BAD_CSMS_CALL, "CALL", "ChangeAvailability")
    assert [(v.kind, v.rejected) for v in violations(out)] == [(ErrorKind.PROPERTY, False)]


def test_strict_towards_csms_answers_an_invalid_charger_call_and_does_not_relay_it() -> None:
    session = make_session(validation_to_csms=STRICT)
    out = session.receive_from_charger(BAD_STATUS, now=0)
    assert len(out) == 2
    violation, answer = out
    assert isinstance(violation, Violation)
    assert (violation.direction, violation.kind, violation.rejected) == (UP, ErrorKind.TYPE, True)
    assert isinstance(answer, Send) and answer.direction is DOWN
    assert json.loads(answer.text)[:3] == [4, "s-1", "TypeConstraintViolation"]
    assert json.loads(answer.text)[4] == {}
    assert session.next_deadline() is None  # not tracked: nothing will answer it


def test_strict_is_per_direction_csms_calls_still_observed_when_only_to_csms_is_strict() -> None:
    session = make_session(validation_to_csms=STRICT, validation_to_charger=OBSERVE)
    out = session.receive_from_csms(BAD_CSMS_CALL, now=0)
    assert sent(out, DOWN) == [BAD_CSMS_CALL]
    assert [v.rejected for v in violations(out)] == [False]


def test_strict_towards_charger_answers_an_invalid_csms_call_and_does_not_relay_it() -> None:
    session = make_session(validation_to_csms=OBSERVE, validation_to_charger=STRICT)
    out = session.receive_from_csms(BAD_CSMS_CALL, now=0)
    assert sent(out, DOWN) == []
    assert [json.loads(t)[:3] for t in sent(out, UP)] == [[4, "m-9", "PropertyConstraintViolation"]]
    assert [(v.direction, v.rejected) for v in violations(out)] == [(DOWN, True)]
    assert session.queue_depth == 0 and session.next_deadline() is None
    # the other direction is still only observed
    out = session.receive_from_charger(BAD_STATUS, now=1)
    assert sent(out, UP) == [BAD_STATUS]


@pytest.mark.parametrize(
    ("version", "code"), [(V16, "FormationViolation"), (V201, "FormatViolation")]
)
def test_strict_extra_property_answer_uses_the_versions_format_code(
    version: OcppVersion, code: str
) -> None:
    session = make_session(version, validation_to_csms=STRICT)
    out = session.receive_from_charger('[2,"h1","Heartbeat",{"extra":1}]', now=0)
    assert [json.loads(t)[:3] for t in sent(out, DOWN)] == [[4, "h1", code]]


def test_strict_missing_field_is_an_occurrence_violation() -> None:
    session = make_session(validation_to_csms=STRICT)
    out = session.receive_from_charger(call("s-2", "StatusNotification", {"connectorId": 1}), 0)
    assert [json.loads(t)[:3] for t in sent(out)] == [[4, "s-2", "OccurrenceConstraintViolation"]]


def test_invalid_callresult_from_charger_in_strict_mode_becomes_a_callerror_to_the_csms() -> None:
    session = make_session(validation_to_csms=STRICT)
    session.receive_from_csms(csms_call("m-1"), now=0)
    bad = result("m-1", {"status": "Maybe"})
    out = session.receive_from_charger(bad, now=1)
    assert bad not in sent(out)
    assert [json.loads(t)[:3] for t in sent(out, UP)] == [[4, "m-1", "PropertyConstraintViolation"]]
    assert [(v.direction, v.kind, v.action, v.rejected) for v in violations(out)] == [
        (UP, ErrorKind.PROPERTY, "ChangeAvailability", True)
    ]
    assert session.next_deadline() is None  # answered, even if by a CALLERROR


def test_invalid_callresult_from_csms_in_strict_mode_becomes_a_callerror_to_the_charger() -> None:
    session = make_session(validation_to_charger=STRICT)
    session.receive_from_charger(HEARTBEAT, now=0)
    out = session.receive_from_csms(result("hb-1", {}), now=1)
    assert [json.loads(t)[:3] for t in sent(out)] == [[4, "hb-1", "OccurrenceConstraintViolation"]]
    assert all(s.direction is DOWN for s in out if isinstance(s, Send))


def test_invalid_callresult_in_observe_mode_is_relayed_and_reported() -> None:
    session = make_session()
    session.receive_from_csms(csms_call("m-1"), now=0)
    bad = result("m-1", {"status": "Maybe"})
    out = session.receive_from_charger(bad, now=1)
    assert out[:2] == relay(UP, bad, "CALLRESULT", "ChangeAvailability")
    assert [(v.kind, v.rejected) for v in violations(out)] == [(ErrorKind.PROPERTY, False)]


def test_callerror_answers_are_relayed_without_schema_checks_in_strict_mode() -> None:
    session = make_session(validation_to_csms=STRICT, validation_to_charger=STRICT)
    session.receive_from_csms(csms_call("m-1"), now=0)
    answer = error("m-1", "NotSupported")
    out = session.receive_from_charger(answer, now=1)
    assert out == [Send(UP, answer), Relayed(UP, "CALLERROR", "ChangeAvailability", "NotSupported")]


def test_unknown_action_in_observe_mode_is_relayed_and_reported_as_not_implemented() -> None:
    session = make_session()
    text = call("u-1", "MakeCoffee", {"sugar": 2})
    out = session.receive_from_charger(text, now=0)
    assert sent(out, UP) == [text]
    assert [(v.kind, v.action, v.rejected) for v in violations(out)] == [
        (ErrorKind.NOT_IMPLEMENTED, "MakeCoffee", False)
    ]


@pytest.mark.parametrize("from_charger", [True, False], ids=["from_charger", "from_csms"])
def test_unknown_action_in_strict_mode_is_answered_not_implemented(from_charger: bool) -> None:
    session = make_session(validation_to_csms=STRICT, validation_to_charger=STRICT)
    receive = session.receive_from_charger if from_charger else session.receive_from_csms
    back = DOWN if from_charger else UP
    out = receive(call("u-1", "MakeCoffee", {}), 0)
    assert [(s.direction, json.loads(s.text)[:3]) for s in out if isinstance(s, Send)] == [
        (back, [4, "u-1", "NotImplemented"])
    ]
    assert [(v.kind, v.rejected) for v in violations(out)] == [(ErrorKind.NOT_IMPLEMENTED, True)]


def test_answer_to_an_unknown_action_is_relayed_in_observe_mode() -> None:
    session = make_session()
    session.receive_from_charger(call("u-1", "MakeCoffee", {}), now=0)
    answer = result("u-1", {"served": True})
    out = session.receive_from_csms(answer, now=1)
    assert sent(out) == [answer]
    assert session.next_deadline() is None


def test_answer_to_an_unknown_action_relayed_in_observe_mode_is_not_replaced_in_strict() -> None:
    session = make_session(validation_to_csms=OBSERVE, validation_to_charger=STRICT)
    session.receive_from_charger(call("u-1", "MakeCoffee", {}), now=0)
    answer = result("u-1", {"served": True})
    out = session.receive_from_csms(answer, now=1)
    assert sent(out) == [answer]


# -- OCPP 2.1 SEND and CALLRESULTERROR -------------------------------------------------------

STREAM = {"id": 1, "pending": 0, "basetime": TS, "data": [{"t": 0, "v": "230.1"}]}
SEND_STREAM = json.dumps([6, "s-1", "NotifyPeriodicEventStream", STREAM])


def test_send_from_csms_is_relayed_at_once_even_while_an_lc_call_is_outstanding() -> None:
    session = make_session(V21)
    lc_call(session, now=0)
    out = session.receive_from_csms(SEND_STREAM, now=1)
    assert out == relay(DOWN, SEND_STREAM, "SEND", "NotifyPeriodicEventStream")
    assert session.queue_depth == 0


def test_send_from_charger_is_relayed_and_not_tracked() -> None:
    session = make_session(V21)
    out = session.receive_from_charger(SEND_STREAM, now=0)
    assert sent(out, UP) == [SEND_STREAM]
    assert violations(out) == []
    assert session.next_deadline() is None


def test_send_from_charger_is_counted_as_a_send() -> None:
    session = make_session(V21)
    out = session.receive_from_charger(SEND_STREAM, now=0)
    assert out == relay(UP, SEND_STREAM, "SEND", "NotifyPeriodicEventStream")


def test_invalid_send_in_strict_mode_is_dropped_without_an_answer() -> None:
    session = make_session(V21, validation_to_csms=STRICT)
    out = session.receive_from_charger('[6,"s-2","NotifyPeriodicEventStream",{}]', now=0)
    assert sent(out) == []
    assert [(v.kind, v.rejected) for v in violations(out)] == [(ErrorKind.OCCURRENCE, True)]


@pytest.mark.parametrize("from_charger", [True, False], ids=["from_charger", "from_csms"])
def test_callresulterror_is_relayed_both_ways_on_ocpp21(from_charger: bool) -> None:
    session = make_session(V21)
    text = '[5,"r-1","FormatViolation","bad result",{}]'
    receive = session.receive_from_charger if from_charger else session.receive_from_csms
    direction = UP if from_charger else DOWN
    assert receive(text, 0) == relay(direction, text, "CALLRESULTERROR", "")


# -- observation: OCPP 1.6 ---------------------------------------------------------------------

START_16 = call(
    "st-1",
    "StartTransaction",
    {"connectorId": 1, "idTag": "TAG1", "meterStart": 100, "timestamp": TS},
)
START_16_ANSWER = result("st-1", {"idTagInfo": {"status": "Accepted"}, "transactionId": 42})


def test_ocpp16_start_transaction_is_observed_with_the_csms_transaction_id() -> None:
    session = make_session()
    out = session.receive_from_charger(START_16, now=0)
    assert observed(out) == []  # the id comes with the CSMS's answer
    out = session.receive_from_csms(START_16_ANSWER, now=1)
    assert out[:2] == relay(DOWN, START_16_ANSWER, "CALLRESULT", "StartTransaction")
    assert observed(out) == [ev.TransactionStarted(CP, "42", 1, "TAG1", 100.0)]


def test_ocpp16_stop_transaction_is_observed_from_the_request() -> None:
    session = make_session()
    text = call(
        "sp-1",
        "StopTransaction",
        {"transactionId": 42, "meterStop": 2500, "timestamp": TS, "reason": "Local"},
    )
    out = session.receive_from_charger(text, now=0)
    assert sent(out, UP) == [text]
    assert observed(out) == [ev.TransactionEnded(CP, "42", None, 2500.0, "Local")]


def test_ocpp16_status_notification_is_observed() -> None:
    session = make_session()
    text = call(
        "sn-1",
        "StatusNotification",
        {"connectorId": 2, "errorCode": "NoError", "status": "Charging"},
    )
    out = session.receive_from_charger(text, now=0)
    assert observed(out) == [ev.StatusChanged(CP, 2, 2, "Charging")]


def test_ocpp16_meter_values_give_per_phase_currents_and_energy_in_wh() -> None:
    session = make_session()
    sampled = [
        {"value": "15.5", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
        {"value": "16.0", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
        {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
        {"value": "1.234", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
    ]
    payload = {
        "connectorId": 1,
        "transactionId": 42,
        "meterValue": [{"timestamp": TS, "sampledValue": sampled}],
    }
    out = session.receive_from_charger(call("mv-1", "MeterValues", payload), now=0)
    (sample,) = observed(out)
    assert isinstance(sample, ev.MeterSampled)
    assert (sample.identity, sample.evse_id, sample.transaction_id) == (CP, 1, "42")
    assert sample.current_a == (15.5, 16.0, None)
    assert sample.power_w == pytest.approx(7200.0)
    assert sample.energy_wh == pytest.approx(1234.0)


def test_ocpp16_meter_values_energy_without_unit_is_wh() -> None:
    session = make_session()
    payload = {
        "connectorId": 1,
        "meterValue": [{"timestamp": TS, "sampledValue": [{"value": "500"}]}],
    }
    out = session.receive_from_charger(call("mv-2", "MeterValues", payload), now=0)
    assert observed(out) == [ev.MeterSampled(CP, 1, None, (None, None, None), None, 500.0)]


def test_ocpp16_boot_notification_is_observed_with_the_csms_interval() -> None:
    session = make_session()
    boot = call(
        "b-1",
        "BootNotification",
        {"chargePointVendor": "V", "chargePointModel": "M", "firmwareVersion": "1.2"},
    )
    session.receive_from_charger(boot, now=0)
    answer = result("b-1", {"status": "Pending", "currentTime": TS, "interval": 60})
    out = session.receive_from_csms(answer, now=1)
    assert observed(out) == [ev.BootNotified(CP, "V", "M", "1.2", "Pending", 60)]


PROFILE_16 = {
    "chargingProfileId": 7,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
    },
}


@pytest.mark.parametrize(("status", "accepted"), [("Accepted", True), ("Rejected", False)])
def test_ocpp16_csms_set_charging_profile_is_observed_with_the_chargers_answer(
    status: str, accepted: bool
) -> None:
    session = make_session()
    text = call("cp-1", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": PROFILE_16})
    out = session.receive_from_csms(text, now=0)
    assert sent(out, DOWN) == [text] and observed(out) == []
    out = session.receive_from_charger(result("cp-1", {"status": status}), now=1)
    assert observed(out) == [ev.ChargingProfileSet(CP, 1, PROFILE_16, accepted)]


def test_ocpp16_csms_clear_charging_profile_is_observed() -> None:
    session = make_session()
    session.receive_from_csms(call("cc-1", "ClearChargingProfile", {"id": 7}), now=0)
    out = session.receive_from_charger(result("cc-1", ACCEPTED), now=1)
    assert observed(out) == [ev.ChargingProfileCleared(CP, {"id": 7}, True)]


def test_lc_set_charging_profile_is_not_observed_as_a_csms_profile() -> None:
    session = make_session()
    message_id, _ = session.send_lc_call(
        "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": PROFILE_16}, now=0
    )
    out = session.receive_from_charger(result(message_id, ACCEPTED), now=1)
    assert out == [LcCallFinished(message_id, CallResult(message_id, ACCEPTED))]


def test_callerror_answer_gives_no_event() -> None:
    session = make_session()
    session.receive_from_charger(START_16, now=0)
    out = session.receive_from_csms(error("st-1", "InternalError"), now=1)
    assert observed(out) == []


# -- observation: OCPP 2.0.1 -------------------------------------------------------------------


def _transaction_event(event_type: str, seq_no: int, **extra: Any) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "timestamp": TS,
        "triggerReason": "MeterValuePeriodic",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "tx-1", **extra.pop("info", {})},
        **extra,
    }


def _meter_value(*sampled: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"timestamp": TS, "sampledValue": list(sampled)}]


def _current(phase: str, amps: float) -> dict[str, Any]:
    return {
        "value": amps,
        "measurand": "Current.Import",
        "phase": phase,
        "unitOfMeasure": {"unit": "A"},
    }


def test_ocpp201_transaction_started_updated_ended_with_meter_values() -> None:
    session = make_session(V201)
    started = _transaction_event(
        "Started",
        0,
        evse={"id": 1, "connectorId": 1},
        idToken={"idToken": "TAG1", "type": "ISO14443"},
        meterValue=_meter_value(_current("L1", 6.0)),
    )
    out = session.receive_from_charger(call("t-0", "TransactionEvent", started), now=0)
    assert violations(out) == []
    assert observed(out) == [
        ev.TransactionStarted(CP, "tx-1", 1, "TAG1", None),
        ev.MeterSampled(CP, 1, "tx-1", (6.0, None, None), None, None),
    ]

    updated = _transaction_event(
        "Updated",
        1,
        evse={"id": 1},
        info={"chargingState": "Charging"},
        meterValue=_meter_value(
            _current("L1", 16.0),
            _current("L2", 15.5),
            _current("L3", 16.5),
            {"value": 11, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "kW"}},
            {"value": 2.5, "unitOfMeasure": {"unit": "Wh", "multiplier": 3}},
        ),
    )
    out = session.receive_from_charger(call("t-1", "TransactionEvent", updated), now=1)
    assert violations(out) == []
    assert observed(out) == [
        ev.TransactionUpdated(CP, "tx-1", 1, "Charging"),
        ev.MeterSampled(CP, 1, "tx-1", (16.0, 15.5, 16.5), 11000.0, 2500.0),
    ]

    ended = _transaction_event(
        "Ended",
        2,
        evse={"id": 1},
        info={"stoppedReason": "EVDisconnected"},
        meterValue=_meter_value({"value": 3000, "measurand": "Energy.Active.Import.Register"}),
    )
    out = session.receive_from_charger(call("t-2", "TransactionEvent", ended), now=2)
    assert violations(out) == []
    assert observed(out) == [
        ev.MeterSampled(CP, 1, "tx-1", (None, None, None), None, 3000.0),
        ev.TransactionEnded(CP, "tx-1", 1, None, "EVDisconnected"),
    ]


def test_ocpp201_meter_values_of_a_transaction_event_without_evse_are_observed() -> None:
    session = make_session(V201)
    started = _transaction_event("Started", 0, evse={"id": 2, "connectorId": 1})
    session.receive_from_charger(call("t-0", "TransactionEvent", started), now=0)
    updated = _transaction_event("Updated", 1, meterValue=_meter_value(_current("L1", 16.0)))
    out = session.receive_from_charger(call("t-1", "TransactionEvent", updated), now=1)
    assert ev.MeterSampled(CP, 2, "tx-1", (16.0, None, None), None, None) in observed(out)


def test_ocpp201_status_notification_is_observed_per_evse_and_connector() -> None:
    session = make_session(V201)
    payload = {"timestamp": TS, "connectorStatus": "Occupied", "evseId": 2, "connectorId": 1}
    out = session.receive_from_charger(call("sn-1", "StatusNotification", payload), now=0)
    assert observed(out) == [ev.StatusChanged(CP, 2, 1, "Occupied")]


def test_ocpp201_boot_notification_is_observed_with_the_csms_interval() -> None:
    session = make_session(V201)
    boot = {
        "reason": "PowerUp",
        "chargingStation": {"model": "M", "vendorName": "V", "firmwareVersion": "1.0"},
    }
    out = session.receive_from_charger(call("b-1", "BootNotification", boot), now=0)
    assert observed(out) == []
    answer = result("b-1", {"currentTime": TS, "interval": 120, "status": "Accepted"})
    out = session.receive_from_csms(answer, now=1)
    assert out[:2] == relay(DOWN, answer, "CALLRESULT", "BootNotification")
    assert observed(out) == [ev.BootNotified(CP, "V", "M", "1.0", "Accepted", 120)]


PROFILE_201 = {
    "id": 3,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": [
        {
            "id": 1,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
        }
    ],
}


@pytest.mark.parametrize(("status", "accepted"), [("Accepted", True), ("Rejected", False)])
def test_ocpp201_csms_set_charging_profile_is_observed_with_the_chargers_answer(
    status: str, accepted: bool
) -> None:
    session = make_session(V201)
    text = call("cp-1", "SetChargingProfile", {"evseId": 1, "chargingProfile": PROFILE_201})
    assert violations(session.receive_from_csms(text, now=0)) == []
    out = session.receive_from_charger(result("cp-1", {"status": status}), now=1)
    assert observed(out) == [ev.ChargingProfileSet(CP, 1, PROFILE_201, accepted)]


# -- schema-invalid payloads are not observed --------------------------------------------------


def test_schema_invalid_request_gives_no_event() -> None:
    session = make_session()
    text = call(
        "sn-1",
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"},
    )
    out = session.receive_from_charger(text, now=0)
    assert sent(out, UP) == [text]  # relayed in observe mode
    assert observed(out) == []


def test_schema_invalid_meter_values_give_no_event() -> None:
    session = make_session()
    payload = {
        "connectorId": 1,
        "meterValue": [
            {"sampledValue": [{"value": "16", "measurand": "Current.Import", "phase": "L1"}]}
        ],
    }  # timestamp missing
    out = session.receive_from_charger(call("mv-1", "MeterValues", payload), now=0)
    assert len(violations(out)) == 1 and observed(out) == []


def test_schema_invalid_answer_gives_no_event() -> None:
    session = make_session()
    session.receive_from_charger(START_16, now=0)
    bad = result("st-1", {"idTagInfo": {"status": "Accepted"}, "transactionId": "42"})
    out = session.receive_from_csms(bad, now=1)
    assert sent(out, DOWN) == [bad]
    assert observed(out) == []


def test_valid_answer_to_a_schema_invalid_request_gives_no_event() -> None:
    session = make_session()
    bad_start = call(
        "st-2",
        "StartTransaction",
        {"connectorId": 1, "idTag": "TAG1", "meterStart": 1.5, "timestamp": TS},
    )
    assert len(violations(session.receive_from_charger(bad_start, now=0))) == 1
    out = session.receive_from_csms(
        result("st-2", {"idTagInfo": {"status": "Accepted"}, "transactionId": 43}), now=1
    )
    assert observed(out) == []


def test_invalid_csms_profile_answer_gives_no_event() -> None:
    session = make_session()
    session.receive_from_csms(
        call("cp-1", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": PROFILE_16}), 0
    )
    out = session.receive_from_charger(result("cp-1", {"status": "Fine"}), now=1)
    assert len(violations(out)) == 1 and observed(out) == []


# -- robustness --------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(
        st.tuples(
            st.booleans(),
            st.one_of(
                st.text(max_size=60),
                st.sampled_from(
                    [
                        HEARTBEAT,
                        csms_call("m-1"),
                        result("m-1", ACCEPTED),
                        result("hb-1", {}),
                        BAD_STATUS,
                        '[7,"x",{}]',
                    ]
                ),
            ),
        ),
        max_size=8,
    ),
    version=st.sampled_from([V16, V201, V21]),
)
def test_session_never_raises_and_answers_only_with_valid_json(
    texts: list[tuple[bool, str]], version: OcppVersion
) -> None:
    session = make_session(version)
    for now, (from_charger, text) in enumerate(texts):
        receive = session.receive_from_charger if from_charger else session.receive_from_csms
        for output in receive(text, float(now)):
            if isinstance(output, Send) and output.text is not text:
                frame = json.loads(output.text)
                assert frame[0] == 4 and isinstance(frame[1], str) and frame[4] == {}
    session.tick(1000.0)
    assert session.next_deadline() is None
