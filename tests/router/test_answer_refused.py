"""A request the journal refused: only its own answer and observations change."""

from __future__ import annotations

import json

from router import events as ev
from router.link_outputs import answer_refused
from router.outputs import AnsweredLocally, Direction, JournalAppend, Observed, Output, Send

UP, DOWN = Direction.TO_CSMS, Direction.TO_CHARGER


def test_the_refused_requests_answer_becomes_a_callerror_and_the_next_request_is_untouched() -> (
    None
):
    started = Observed(ev.TransactionStarted("CP1", "-1", 1, "TAG", 0.0))
    later = Observed(ev.MeterSampled("CP1", 1, "-1", (16.0, None, None), None, None))
    second = JournalAppend('[2,"m-2","MeterValues",{}]')
    rest: list[Output] = [
        Send(DOWN, '[3,"s-1",{"transactionId":-1}]'),
        AnsweredLocally("StartTransaction"),
        started,
        second,
        Send(DOWN, '[3,"m-2",{}]'),
        AnsweredLocally("MeterValues"),
        later,
    ]
    out = answer_refused('[2,"s-1","StartTransaction",{}]', rest)
    error = json.loads(out[0].text) if isinstance(out[0], Send) else None
    assert error is not None and error[:3] == [4, "s-1", "InternalError"]
    assert out[1:] == rest[3:]  # the refused call's own outputs went, the next call's stay


def test_nothing_to_answer_leaves_the_outputs_alone() -> None:
    rest: list[Output] = [Send(UP, '[2,"x",{}]')]
    assert answer_refused('[2,"s-1","StartTransaction",{}]', rest) == rest
