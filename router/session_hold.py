"""The `hold` policy's part of one charger's session (sans-I/O): while the CSMS is gone the LC
answers the charger itself; once it is back the backlog is replayed before live relaying
resumes, and transactions the CSMS refuses in the replay are acted on with the charger.

The state of the outage (held frames, replay, 1.6 ids) is the `OfflineRelay`'s
(router/offline.py); this drives it from the session's inputs and says what to send.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from router.frames import Call, CallError, CallResult
from router.offline import OfflineRelay, ReplayItem, UpstreamState
from router.offline_answers import answer_locally
from router.outputs import OfflineOutput, Output, TransactionRefused
from router.refusals import QueueCall, Refusals
from router.session_observer import SessionObserver
from router.validation import Validation

# A charger frame routed as if it had just arrived: (text, now) -> outputs.
ReceiveFromCharger = Callable[[str, float], list[Output]]


class SessionHold:
    def __init__(
        self,
        offline: OfflineRelay,
        validation: Validation,
        observer: SessionObserver,
        refusals: Refusals,
        queue_call: QueueCall,
        call_timeout_s: float,
        wall_clock: Callable[[], datetime],
        receive_from_charger: ReceiveFromCharger,
    ) -> None:
        self._offline = offline
        self._validation = validation
        self._observer = observer
        self._refusals = refusals
        self._queue_call = queue_call  # the LC's own calls (router/lc_calls.py)
        self._call_timeout_s = call_timeout_s
        self._wall_clock = wall_clock
        # Weak: the session owns this part, and a strong reference back would make a cycle
        # that outlives a closed link until a full garbage collection.
        self._receive_from_charger = weakref.WeakMethod(receive_from_charger)
        self.replay_deadline: float | None = None  # the replayed frame's answer is due

    def charger_call(self, call: Call, text: str) -> list[Output] | None:
        """A charger call while the CSMS is not live: held behind the replay or answered
        here; None while live (it is relayed)."""
        state = self._offline.state
        if state is UpstreamState.REPLAYING:
            self._offline.hold(text)  # the CSMS gets it after what came before
            return []
        if state is UpstreamState.DOWN:
            return self.answer_locally(call, text)
        return None

    def owns(self, message_id: str) -> bool:
        """The id of the replayed frame the CSMS is answering."""
        return self._offline.owns(message_id)

    def lost(self, in_flight: list[tuple[Call, str]], now: float) -> list[Output]:
        """The CSMS link is gone: answer the charger here from now on, starting with
        `in_flight`, its calls the CSMS may or may not have got (answered and journaled here:
        at-least-once), then the calls that waited behind the replay."""
        held = self._offline.went_down()
        self.replay_deadline = None
        out: list[Output] = []
        for call, text in in_flight:
            out += self.answer_locally(call, text, sent_before=True)
        for text in held:
            out += self._receive(text, now)
        return out

    def awaits_replay(self) -> None:
        """The CSMS link is back: new charger calls wait until the backlog is delivered."""
        self._offline.awaits_replay()

    def refusals_journaled(
        self, refusals: list[tuple[int | str, int | None]], now: float
    ) -> list[Output]:
        """Refusals an earlier link (or LC run) could not finish: acted on again, each once."""
        out: list[Output] = []
        for transaction_id, evse_id in refusals:
            self._offline.refused_before(transaction_id)
            out += self._refusals.start(transaction_id, evse_id, now, self._queue_call)
        return out

    def provisional_id_reserved(self, transaction_id: int) -> None:
        self._offline.transaction_ids.reserved(transaction_id)

    def restored(self, backlog: list[ReplayItem], now: float) -> list[Output]:
        """The CSMS link is (back) up: deliver `backlog` in order, then relay live again."""
        sends, more = self._offline.begin_replay(backlog)
        self.replay_deadline = now + self._call_timeout_s if sends else None
        return [*more, *sends, *self._flush_held(now)]

    def replay_answered(self, answer: CallResult | CallError, now: float) -> list[Output]:
        sends, more = self._offline.replay_answered(answer)
        self.replay_deadline = now + self._call_timeout_s if sends else None
        # A 1.6 id mapping commits before the next frame goes; the delivery's acknowledgement
        # is queued ahead of it and commits with others: a crash repeats at most the few whose
        # commit had not happened, identical and in order (at-least-once, never reordered).
        more = [self._with_refused_evse(output) for output in more]
        # Journaled first (in `more`), then the charger is asked what to do about it.
        asked: list[Output] = []
        for output in more:
            if isinstance(output, TransactionRefused):
                asked += self._refusals.start(
                    output.transaction_id, output.evse_id, now, self._queue_call
                )
        return [*more, *sends, *self._flush_held(now), *asked]

    def tick(self, now: float) -> list[Output]:
        """No answer to the replayed frame in time: it goes again."""
        if self.replay_deadline is None or self.replay_deadline > now:
            return []
        resent = self._offline.replay_deadline_passed()
        self.replay_deadline = now + self._call_timeout_s if resent else None
        return [*resent]

    def answer_locally(self, call: Call, text: str, sent_before: bool = False) -> list[Output]:
        """Answer the charger as a CSMS would (router/offline_answers.py), and observe it."""
        out, answer = answer_locally(
            self._offline,
            self._validation,
            call,
            text,
            self._wall_clock(),
            self._observer.transaction_evses,
            sent_before,
        )
        if answer is None:
            return out
        return out + self._observer.local_answer(call, answer)

    def _with_refused_evse(self, output: OfflineOutput) -> OfflineOutput:
        """Name the EVSE of a refused 2.0.1 transaction whose event left it out."""
        if not isinstance(output, TransactionRefused) or output.evse_id is not None:
            return output
        evse_id = self._observer.transaction_evses.get(str(output.transaction_id))
        return replace(output, evse_id=evse_id)

    def _flush_held(self, now: float) -> list[Output]:
        """Relay the charger's calls that waited behind the replay, once it is done."""
        out: list[Output] = []
        while (text := self._offline.release_held()) is not None:
            out += self._receive(text, now)
        return out

    def _receive(self, text: str, now: float) -> list[Output]:
        receive = self._receive_from_charger()
        assert receive is not None, "the session outlives its parts"
        return receive(text, now)
