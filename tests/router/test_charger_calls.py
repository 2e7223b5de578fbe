"""The one queue of calls to a charger, shared by the CSMS's calls and the LC's own."""

from __future__ import annotations

from router.charger_calls import ChargerCalls, Origin, QueuedCall


def queued(message_id: str, origin: Origin, deadline: float | None = None) -> QueuedCall:
    return QueuedCall(message_id, "Action", origin, f"[2,{message_id!r}]", None, 30.0, deadline)


def ids(calls: list[QueuedCall]) -> list[str]:
    return [call.message_id for call in calls]


def test_csms_calls_go_at_once_and_an_lc_call_waits_until_none_is_outstanding() -> None:
    calls = ChargerCalls()
    calls.queue(queued("c1", Origin.CSMS))
    calls.queue(queued("c2", Origin.CSMS))
    calls.queue(queued("lc", Origin.LC, deadline=100))
    calls.queue(queued("c3", Origin.CSMS))
    assert ids(calls.sendable(0)) == ["c1", "c2"]  # the CSMS paces itself
    assert calls.depth == 2
    assert calls.answered("c1") is not None
    assert ids(calls.sendable(1)) == []
    assert calls.answered("c2") is not None
    assert ids(calls.sendable(2)) == ["lc"]
    assert ids(calls.sendable(3)) == []  # a CSMS call waits while the LC call is outstanding
    assert calls.answered("lc") is not None
    assert ids(calls.sendable(4)) == ["c3"]


def test_expiry_gives_up_outstanding_and_unsent_lc_calls_and_remembers_the_sent_one() -> None:
    calls = ChargerCalls()
    calls.queue(queued("lc1", Origin.LC, deadline=100))
    calls.queue(queued("lc2", Origin.LC, deadline=20))
    assert ids(calls.sendable(0)) == ["lc1"]
    assert calls.earliest(None) == 20  # lc2's deadline to be sent by
    assert calls.expire(25) == ["lc2"]
    assert calls.earliest(None) == 30  # lc1's time to answer
    assert calls.expire(30) == ["lc1"]
    assert calls.expired_lc_call("lc1")
    assert not calls.expired_lc_call("lc2")  # never sent: no answer can come
    assert calls.answered("lc1") is None


def test_when_the_csms_goes_its_waiting_calls_go_and_its_outstanding_one_is_orphaned() -> None:
    calls = ChargerCalls()
    for message_id in ("c1", "lc", "c2"):
        calls.queue(queued(message_id, Origin.CSMS if message_id != "lc" else Origin.LC))
    assert ids(calls.sendable(0)) == ["c1"]
    calls.csms_gone()
    outstanding = calls.answered("c1")
    assert outstanding is not None and outstanding.orphaned
    assert ids(calls.sendable(1)) == ["lc"]
    assert calls.depth == 0
    assert calls.close() == ["lc"]
