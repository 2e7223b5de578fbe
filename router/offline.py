"""The `hold` policy's state for one charger (sans-I/O): answer it while its CSMS is gone,
journal what must reach the CSMS, replay it in order when the CSMS is back, and keep the
1.6 transaction ids the charger and the CSMS use apart.

States: LIVE (relaying), DOWN (answering locally), REPLAYING (delivering the journal, then the
latest status per connector, one CALL at a time; the charger's new calls wait behind it so
the CSMS sees everything in the order the charger sent it).

1.6 ids: offline, a StartTransaction gets a provisional (negative) id. When its replay is
answered, the CSMS's id is mapped to it (router/transaction_ids.py). A transaction the CSMS
refuses in the replay is reported to be acted on (router/replay_refusals.py).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from itertools import chain
from typing import Any

from router.frames import Call, CallError, CallResult, OcppVersion
from router.learned_answers import authorization_learned, boot_learned
from router.local_answers import BootAnswer, OfflineAuthorization
from router.outputs import (
    AuthorizationLearned,
    BootLearned,
    Direction,
    OfflineOutput,
    ReplayDelivered,
    Replayed,
    ReplayFinished,
    Send,
    TransactionMapped,
)
from router.replay_refusals import ReplayRefusals
from router.transaction_ids import TransactionIds

# How often a replayed message the CSMS answers with a CALLERROR is sent (1.6 §4.10
# TransactionMessageAttempts) before it is given up on.
TRANSACTION_MESSAGE_ATTEMPTS = 3
_ANSWERED_IDS_KEPT = 256


class UpstreamState(Enum):
    LIVE = "live"
    DOWN = "down"
    REPLAYING = "replaying"


@dataclass(frozen=True, slots=True)
class OfflineSettings:
    local_list: frozenset[str] = frozenset()
    accept_unknown_ids: bool = False
    redial_interval_s: float = 5.0


@dataclass(slots=True)
class OfflineKnowledge:
    """What the LC knows from the CSMS's earlier answers, shared by all chargers."""

    authorizations: dict[str, dict[str, tuple[dict[str, Any], float | None]]] = field(
        default_factory=dict
    )  # scope ("1.6" / "2.x") -> id token -> (info, expiry)
    boots: dict[str, BootAnswer] = field(default_factory=dict)  # by charger


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """A journaled request (seq) or a remembered status (seq None) to deliver."""

    seq: int | None
    text: str
    provisional_transaction_id: int | None = None
    sent_before: bool = False  # see JournalAppend.sent_before


def authorization_scope(version: OcppVersion) -> str:
    return "1.6" if version is OcppVersion.V16 else "2.x"


class OfflineRelay:
    """Its state changes only through its methods; the session drives them."""

    def __init__(
        self,
        identity: str,
        version: OcppVersion,
        settings: OfflineSettings,
        knowledge: OfflineKnowledge,
        transaction_map: Mapping[int, int],
        provisional_ids: Iterable[int],
    ) -> None:
        self.identity = identity
        self.version = version
        self._state = UpstreamState.LIVE
        # Lists, not deques, for the queues: an empty deque costs ~760 bytes (its first block)
        # on each of thousands of links, and these are usually empty.
        self._held: list[str] = []  # charger frames waiting behind the replay
        self.transaction_ids = TransactionIds(version, transaction_map, provisional_ids)
        self._settings = settings
        self._knowledge = knowledge
        self._scope = authorization_scope(version)
        self._replay: list[ReplayItem] = []  # the backlog, the next item last (taken in O(1))
        self._statuses_in_replay = False  # journaled statuses (items without a seq) are in it
        # At the CSMS: (message id, item, its action and payload as parsed when it was sent).
        self._replaying: tuple[str, ReplayItem, str, dict[str, Any]] | None = None
        self._attempts = 0  # CALLERRORs for the item at the head of the replay
        self._answered: OrderedDict[str, None] = OrderedDict()  # replayed ids already answered
        self._refusals = ReplayRefusals()

    @property
    def state(self) -> UpstreamState:
        return self._state

    @property
    def held(self) -> tuple[str, ...]:
        """The charger's calls waiting behind the replay."""
        return tuple(self._held)

    # -- the CSMS link -----------------------------------------------------------------------

    def went_down(self) -> list[str]:
        """The CSMS link is gone: answer locally from now on. Returns the held calls (they
        are answered locally too) and forgets them."""
        self._state = UpstreamState.DOWN
        held = list(self._held)
        self._held.clear()
        return held

    def awaits_replay(self) -> None:
        """The CSMS link is back: the charger's calls wait until the backlog is delivered."""
        self._state = UpstreamState.REPLAYING

    def hold(self, text: str) -> None:
        """A charger call that must reach the CSMS after the replay."""
        self._held.append(text)

    def release_held(self) -> str | None:
        """The next held call to relay, once the replay is done; None when none is."""
        if self._state is not UpstreamState.LIVE or not self._held:
            return None
        return self._held.pop(0)

    def refused_before(self, transaction_id: int | str) -> None:
        """A refusal from before this link (journaled) is being acted on already."""
        self._refusals.refused_before(transaction_id)

    def was_replayed(self, message_id: str) -> bool:
        """An answer to a replayed frame that was answered already (a resend crossed it)."""
        return message_id in self._answered

    # -- answering while DOWN ----------------------------------------------------------------

    def authorization(self) -> OfflineAuthorization:
        return OfflineAuthorization(
            self._knowledge.authorizations.setdefault(self._scope, {}),
            self._settings.local_list,
            self._settings.accept_unknown_ids,
        )

    def boot_answer(self) -> BootAnswer:
        return self._knowledge.boots.get(self.identity, BootAnswer())

    # -- learning while LIVE -----------------------------------------------------------------

    def learn(
        self, action: str, request: dict[str, Any], response: dict[str, Any]
    ) -> list[OfflineOutput]:
        """What the CSMS's answer to a charger call teaches (router/learned_answers.py)."""
        out: list[OfflineOutput] = []
        boot = boot_learned(action, response)
        if boot is not None:
            self._knowledge.boots[self.identity] = boot
            out.append(BootLearned(boot.status, boot.interval_s))
        authorized = authorization_learned(request, response)
        if authorized is not None:
            token, info, expires_at = authorized
            self.authorization().cache[token] = (info, expires_at)
            out.append(AuthorizationLearned(self._scope, token, info, expires_at))
        return out

    # -- replay ------------------------------------------------------------------------------

    def begin_replay(self, items: list[ReplayItem]) -> tuple[list[Send], list[OfflineOutput]]:
        self._replay = items[::-1]
        self._statuses_in_replay = any(item.seq is None for item in items)
        self._state = UpstreamState.REPLAYING
        return self._next_replay()

    def owns(self, message_id: str) -> bool:
        return self._replaying is not None and self._replaying[0] == message_id

    def replay_answered(
        self, answer: CallResult | CallError
    ) -> tuple[list[Send], list[OfflineOutput]]:
        """(frames to send, bookkeeping) after the CSMS answered the replayed request."""
        assert self._replaying is not None
        message_id, item, action, request = self._replaying
        self._replaying = None
        self._answered[message_id] = None  # a second answer (to a resend) goes nowhere
        while len(self._answered) > _ANSWERED_IDS_KEPT:
            self._answered.popitem(last=False)
        if isinstance(answer, CallError):
            self._attempts += 1
            if self._attempts < TRANSACTION_MESSAGE_ATTEMPTS:
                # 1.6 §4.10: a transaction-related message the CSMS failed to process is tried
                # again (TransactionMessageAttempts) before it is given up on.
                self._replay.append(item)
                return self._next_replay()
        self._attempts = 0
        out: list[OfflineOutput] = []
        if isinstance(answer, CallResult):
            out += self.learn(action, request, answer.payload)
            out += self._after_replayed(action, item, request, answer.payload)
        if item.seq is not None:
            # Last: what the answer taught (an id map, a refusal to act on) is journaled
            # before the entry goes, so a crash in between repeats the entry, never loses that.
            out.append(ReplayDelivered(item.seq))
        sends, more = self._next_replay()
        return sends, out + more

    def _after_replayed(
        self, action: str, item: ReplayItem, request: dict[str, Any], response: dict[str, Any]
    ) -> list[OfflineOutput]:
        """Map a replayed StartTransaction's id; report a session the CSMS does not accept."""
        provisional = item.provisional_transaction_id
        csms_id = response.get("transactionId")
        if action == "TransactionEvent":
            return self._refusals.event_refused(request, response, self._waiting())
        if action != "StartTransaction" or provisional is None or not isinstance(csms_id, int):
            return []
        self.transaction_ids.mapped(provisional, csms_id)
        out: list[OfflineOutput] = [TransactionMapped(provisional, csms_id)]
        return out + self._refusals.start_refused(provisional, request, response, self._waiting())

    def _waiting(self) -> Iterator[str]:
        """What is still to be replayed, and the charger's live calls waiting behind it (read
        only when a refusal is to be checked)."""
        return chain((item.text for item in reversed(self._replay)), self._held)

    def _next_replay(self) -> tuple[list[Send], list[OfflineOutput]]:
        if not self._replay:
            self._state = UpstreamState.LIVE
            return [], [ReplayFinished(self._statuses_in_replay)]
        item = self._replay.pop()
        message = json.loads(item.text)
        message_id, action, payload = message[1], message[2], message[3]
        text = item.text
        out: list[OfflineOutput] = [Replayed(action)]
        if self.version is not OcppVersion.V16 and action == "TransactionEvent":
            if item.seq is not None and not item.sent_before and "offline" not in payload:
                # It was answered by the LC, not the CSMS: E12 says such events carry offline.
                text = _marked_offline(item.text, payload)
        else:
            text, remapped = self.transaction_ids.to_csms(Call(message_id, action, payload), text)
            out += remapped
        self._replaying = (message_id, item, action, payload)
        return [Send(Direction.TO_CSMS, text)], out

    def replay_deadline_passed(self) -> list[Send]:
        """No answer in time: send the same frame again (at-least-once, same content)."""
        if self._replaying is None:
            return []
        item = self._replaying[1]
        self._replay.append(item)
        self._replaying = None
        sends, _ = self._next_replay()
        return sends


def _marked_offline(text: str, payload: dict[str, Any]) -> str:
    """A journaled CALL with `"offline":true` added as its payload's last member, the rest of
    the text as the charger sent it (no re-encoding). A CALL ends with its payload object, so
    the text ends with `}`, then `]`, whitespace allowed around them."""
    without_object_end = text.rstrip()[:-1].rstrip()[:-1]
    return without_object_end + ("," if payload else "") + '"offline":true}]'
