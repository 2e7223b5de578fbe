"""The refusal workflow inside the sans-I/O session: the calls the LC makes to a charger
whose replayed transaction the CSMS refused, and the answers that drive them."""

from __future__ import annotations

import json
from typing import Any

from router import events as ev
from router.frames import OcppVersion
from router.outputs import (
    Direction,
    LcCallFinished,
    Observed,
    Output,
    RefusalCallEnded,
    RefusalSettled,
    RefusalStopping,
    Send,
)
from router.session import LinkSession
from tests.router.test_offline_session import (
    TIMEOUT,
    Journal,
    make,
    of_type,
    offline,
    result,
    sent,
    start16,
    stop16,
)

DOWN = Direction.TO_CHARGER
RULE_SUSPEND = {
    "configurationKey": [
        {"key": "StopTransactionOnInvalidId", "readonly": False, "value": "false"},
        {"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": "5"},
    ]
}


def the_ask(outputs: list[Output]) -> tuple[str, str, dict[str, Any]]:
    """The one call the LC sends the charger in `outputs`: (message id, action, payload)."""
    (text,) = sent(outputs, DOWN)
    _type, message_id, action, payload = json.loads(text)
    return message_id, action, payload


def refused_start(session: LinkSession) -> list[Output]:
    """Replay an offline StartTransaction the CSMS refuses (connector 2, provisional id -1)."""
    journal = Journal()
    session.upstream_lost(0)
    offline(session, journal, start16(tag="LOCAL", connector=2))
    session.hold_for_replay()
    journal.apply(session.upstream_restored(journal.backlog(), 10))
    refused = {"transactionId": 4711, "idTagInfo": {"status": "Blocked"}}
    return session.receive_from_csms(result("s-1", refused), 11)


def test_a_suspension_the_charger_accepts_is_kept_until_the_session_ends() -> None:
    session = make()
    rule_id, action, _ = the_ask(refused_start(session))
    assert action == "GetConfiguration"

    out = session.receive_from_charger(result(rule_id, RULE_SUSPEND), 12)
    assert of_type(out, RefusalCallEnded) == [
        RefusalCallEnded(-1, "rule", "GetConfiguration", "result", None)
    ]
    suspend_id, action, payload = the_ask(out)
    assert action == "SetChargingProfile"
    assert payload["connectorId"] == 2
    assert payload["csChargingProfiles"]["stackLevel"] == 5

    out = session.receive_from_charger(result(suspend_id, {"status": "Accepted"}), 13)
    assert of_type(out, RefusalCallEnded) == [
        RefusalCallEnded(-1, "suspend", "SetChargingProfile", "result", "accepted")
    ]
    assert [o.event for o in of_type(out, Observed)] == [ev.EnergySuspended("CP1", 2)]
    assert of_type(out, RefusalSettled) == []  # journaled while the session goes on
    assert of_type(out, LcCallFinished) == []  # the session's own calls: nobody waits

    out = session.receive_from_charger(stop16("st-1", -1), 14)
    assert of_type(out, RefusalSettled) == [RefusalSettled(-1)]


def test_a_rule_not_read_in_time_stops_the_transaction_and_a_stop_answered_settles_it() -> None:
    session = make()
    rule_id, _, _ = the_ask(refused_start(session))
    out = session.tick(11 + TIMEOUT)
    assert of_type(out, RefusalCallEnded) == [
        RefusalCallEnded(-1, "rule", "GetConfiguration", "timeout", None)
    ]
    assert of_type(out, RefusalStopping) == [
        RefusalStopping(-1, "the rule could not be read (timeout)")
    ]
    stop_id, action, payload = the_ask(out)
    assert (action, payload) == ("RemoteStopTransaction", {"transactionId": -1})
    out = session.receive_from_charger(result(stop_id, {"status": "Accepted"}), 50)
    assert of_type(out, RefusalSettled) == [RefusalSettled(-1)]
    assert rule_id != stop_id


def test_refusals_from_an_earlier_link_are_acted_on_again_once_each() -> None:
    session = make(OcppVersion.V201)
    out = session.refusals_journaled([("tx-1", 1), ("tx-2", None)], 5)
    # One call at a time: the second refusal's call waits behind the first.
    _, action, _ = the_ask(out)
    assert action == "GetVariables"
    assert session.queue_depth == 1


def test_a_closing_link_ends_no_refusal_call_as_an_lc_call() -> None:
    session = make()
    refused_start(session)
    assert session.close() == []


def test_a_refusal_call_answered_with_a_callerror_counts_as_a_rejected_stop() -> None:
    session = make()
    rule_id, _, _ = the_ask(refused_start(session))
    out = session.receive_from_charger(result(rule_id, {"configurationKey": []}), 12)
    stop_id, action, _ = the_ask(out)  # no rule reported: stopping is the conservative reading
    assert action == "RemoteStopTransaction"
    error = json.dumps([4, stop_id, "NotSupported", "", {}])
    out = session.receive_from_charger(error, 13)
    assert of_type(out, RefusalCallEnded) == [
        RefusalCallEnded(-1, "stop", "RemoteStopTransaction", "error", "rejected")
    ]
    assert of_type(out, RefusalSettled) == [RefusalSettled(-1)]
    assert [o for o in out if isinstance(o, Send)] == []
