"""What one charger's relayed frames tell (sans-I/O): observation events with their EVSE named,
and what `hold` learns from the CSMS's answers to answer alike when the CSMS is gone.

Only schema-valid payloads are observed (router/validation.py). In OBSERVE mode a frame is
relayed before it is checked: it waits here (`defer`) until the session's `check_pending`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from router import events as ev
from router.charger_calls import Origin, Outstanding
from router.frames import Call, OcppVersion
from router.learned_answers import LEARNED_FROM
from router.observe import observe_charger_request, observe_result
from router.offline import OfflineRelay
from router.outputs import Direction, Observed, Output
from router.refusals import Refusals
from router.validation import Validation


@dataclass(slots=True)
class _Unchecked:
    """A frame relayed in OBSERVE mode, to be checked and observed once it is on its way."""

    direction: Direction
    action: str
    payload: dict[str, Any]
    is_request: bool
    outstanding: Outstanding | None  # a charger call's own record, or the call answered


class SessionObserver:
    def __init__(
        self,
        identity: str,
        version: OcppVersion,
        validation: Validation,
        offline: OfflineRelay | None,
        refusals: Refusals,
    ) -> None:
        self._identity = identity
        self._version = version
        self._validation = validation
        self._offline = offline
        self._refusals = refusals  # a suspended session that ends settles its refusal
        self._unchecked: list[_Unchecked] = []
        self._transaction_evses: dict[str, int] = {}  # 2.0.1 transaction id -> EVSE id

    @property
    def transaction_evses(self) -> Mapping[str, int]:
        """The EVSE of each 2.0.1 transaction seen starting and not ended yet."""
        return self._transaction_evses

    def defer(
        self,
        direction: Direction,
        action: str,
        payload: dict[str, Any],
        is_request: bool,
        outstanding: Outstanding | None,
    ) -> None:
        """A frame relayed unchecked (OBSERVE mode): checked and observed by `check_pending`."""
        self._unchecked.append(_Unchecked(direction, action, payload, is_request, outstanding))

    def check_pending(self) -> list[Output]:
        """Schema-check and observe what was relayed unchecked."""
        out: list[Output] = []
        for item in self._unchecked:
            outstanding = item.outstanding
            violation = self._validation.check(item.action, item.is_request, item.payload)
            if violation is not None:
                out.append(self._validation.violation(item.direction, violation, item.action))
                if item.is_request and outstanding is not None:
                    outstanding.request = None  # its answer is not observed either
            elif item.is_request:
                out += self.charger_call(item.action, item.payload)
            elif outstanding is not None:
                out += self.answer(outstanding, item.payload)
        self._unchecked.clear()
        return out

    def charger_call(self, action: str, payload: dict[str, Any]) -> list[Output]:
        """What a valid call from the charger tells."""
        observed = observe_charger_request(self._identity, self._version, action, payload)
        return self._observed([self._with_evse(event) for event in observed])

    def answer(self, outstanding: Outstanding, payload: dict[str, Any]) -> list[Output]:
        """What a valid answer to a relayed call tells: events, and what hold learns from it."""
        if outstanding.request is None:
            return []
        out: list[Output] = []
        charger_originated = outstanding.origin is Origin.CHARGER
        if self._offline is not None and charger_originated and outstanding.action in LEARNED_FROM:
            out += self._offline.learn(outstanding.action, outstanding.request, payload)
        observed = observe_result(
            self._identity,
            self._version,
            outstanding.action,
            charger_originated,
            outstanding.request,
            payload,
        )
        return out + self._observed(observed)

    def local_answer(self, call: Call, answer: dict[str, Any]) -> list[Output]:
        """What a charger's call and the LC's own answer to it tell (`hold`, CSMS gone)."""
        observed = observe_charger_request(self._identity, self._version, call.action, call.payload)
        observed += observe_result(
            self._identity, self._version, call.action, True, call.payload, answer
        )
        return self._observed([self._with_evse(event) for event in observed])

    def _observed(self, events: list[ev.Event]) -> list[Output]:
        out: list[Output] = []
        for event in events:
            out.append(Observed(event))
            out += self._refusals.ended(event)
        return out

    def _with_evse(self, event: ev.Event) -> ev.Event:
        """Name the EVSE in 2.0.1 transaction events that leave it out after the first one."""
        if isinstance(event, ev.TransactionStarted) and event.evse_id is not None:
            self._transaction_evses[event.transaction_id] = event.evse_id
        elif isinstance(event, ev.TransactionUpdated | ev.MeterSampled | ev.TransactionEnded):
            transaction = event.transaction_id
            if transaction is not None:
                if event.evse_id is None and transaction in self._transaction_evses:
                    event = replace(event, evse_id=self._transaction_evses[transaction])
                if isinstance(event, ev.TransactionEnded):
                    self._transaction_evses.pop(transaction, None)
        return event
