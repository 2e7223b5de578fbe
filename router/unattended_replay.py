"""Deliver a charger's backlog to the CSMS while that charger is not connected.

A charger's journaled messages are normally replayed over its own link once the CSMS is back.
A charger that broke, was unplugged or replaced after an outage, or that has not come back
since the LC restarted, would keep them from the CSMS for ever. So the LC dials the CSMS for
it, with the path and subprotocol it used, when it can do so on its own: the charger had no
Authorization header (no credentials, or security profile 3, where the CSMS sees the LC's own
certificate), or its header was kept sealed (`keep_credentials`). Otherwise the backlog waits
for its charger, and says so (`waiting`, a metric per charger, the status page).

The replay itself is the charger link's (`OfflineRelay`, sans-I/O): in order, each entry's
acknowledgement queued in the journal before the next goes, then the latest status per
connector.
Chargers are replayed side by side, up to MAX_PARALLEL_REPLAYS at once, the oldest backlog
first: one charger's replay waits for the CSMS's round trips, not for the other chargers'. A CSMS
call on this link goes unanswered, as it would to a charger that is not there. Once a charger
is accepted again (the CSMS took its new connection), its handshake ends this replay
(`stand_down`) before its own link starts, and that link goes on from the journal. A refused
handshake of that identity does not disturb it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial

from aiohttp import WSMsgType
from aiohttp.client_ws import ClientWebSocketResponse

from router import replay_records
from router.frames import CallError, CallResult, OcppVersion, parse_frame
from router.journal import Journal, StoredHandshake
from router.metrics import RouterMetrics
from router.offline import (
    OfflineKnowledge,
    OfflineRelay,
    OfflineSettings,
    UpstreamState,
)
from router.outputs import OfflineOutput, Send
from router.sealed_credentials import CredentialSealer
from router.upstream import OUTAGE_REASONS, UpstreamRefused
from supervision.tasks import report_failure

log = logging.getLogger(__name__)

_CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)

Dial = Callable[[str, list[str], dict[str, str]], Awaitable[ClientWebSocketResponse]]

# Replays under way at once, each a CSMS link with one message in flight: the load of that
# many connected chargers, which a site's LC carries anyway. Fewer would make a thousand
# backlogs take several times one backlog's time; the bound keeps a site with many more
# absent chargers from dialling them all at the same moment.
MAX_PARALLEL_REPLAYS = 1000


def stored_handshake(
    identity: str,
    path: str,
    subprotocol: str,
    authorization: str | None,
    sealer: CredentialSealer | None,
) -> StoredHandshake:
    """What to keep with a charger's backlog to dial for it; its header only when sealed."""
    sealed = None
    if authorization is not None and sealer is not None:
        sealed = sealer.seal(identity, authorization)
    return StoredHandshake(path, subprotocol, authorization is not None, sealed)


class UnattendedReplay:
    def __init__(
        self,
        dial: Dial,
        metrics: RouterMetrics,
        settings: OfflineSettings,
        knowledge: OfflineKnowledge,
        sealer: CredentialSealer | None,
        call_timeout_s: float,
        present: Callable[[str], bool],
    ) -> None:
        self._dial = dial
        self._metrics = metrics
        self._settings = settings
        self._knowledge = knowledge
        self._sealer = sealer
        self._call_timeout_s = call_timeout_s
        self._present = present  # whether a charger's own link runs
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # The CSMS refused a replay without the charger (not an outage): no more tries until
        # the charger has been back.
        self._refused: set[str] = set()
        # Chargers not connected whose backlog only their own link can deliver.
        self.waiting: frozenset[str] = frozenset()
        self._absent: frozenset[str] = frozenset()  # not connected, with a backlog
        self._replay_slots = asyncio.Semaphore(MAX_PARALLEL_REPLAYS)

    async def stand_down(self, identity: str) -> None:
        """The charger is back: end a replay without it (its own link takes over)."""
        self._refused.discard(identity)
        task = self._tasks.pop(identity, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def run(self, journal: Journal, interval_s: float) -> None:
        """Every `interval_s`, start a replay for each absent charger with a backlog."""
        try:
            while True:
                try:
                    await self._round(journal)
                except Exception as exc:  # a journal error must not end these replays for good
                    report_failure("replay-without-charger-round", exc)
                await asyncio.sleep(interval_s)
        finally:
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _round(self, journal: Journal) -> None:
        waiting: set[str] = set()
        absent: set[str] = set()
        now = time.time()
        backlogs = sorted((await journal.oldest_entries()).items(), key=lambda item: item[1])
        handshakes = await journal.handshakes()
        for identity, oldest in backlogs:
            if self._present(identity):
                continue
            absent.add(identity)
            self._metrics.absent_charger_backlog_age.labels(identity).set(now - oldest)
            if identity in self._tasks:
                continue
            handshake = handshakes.get(identity)
            headers = self._headers(identity, handshake)
            if handshake is None or headers is None or identity in self._refused:
                waiting.add(identity)
            else:
                task = asyncio.create_task(self._deliver(journal, identity, handshake, headers))
                self._tasks[identity] = task
                task.add_done_callback(partial(self._forget, identity))
        for identity in self._absent - absent:
            self._metrics.absent_charger_backlog_age.remove(identity)
        for identity in self.waiting - waiting:
            self._metrics.backlog_waits_for_charger.remove(identity)
        for identity in waiting - self.waiting:
            log.warning(
                "%s: its backlog waits for it to reconnect: the LC cannot deliver it without "
                "the charger (no credentials kept, or the CSMS refused them)",
                identity,
            )
            self._metrics.backlog_waits_for_charger.set(identity, 1)
        self.waiting, self._absent = frozenset(waiting), frozenset(absent)

    def _forget(self, identity: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(identity) is task:
            del self._tasks[identity]
        if not task.cancelled() and (exc := task.exception()) is not None:
            report_failure("replay-without-charger", exc, identity)

    def _headers(self, identity: str, handshake: StoredHandshake | None) -> dict[str, str] | None:
        """The handshake headers to dial with, or None when the LC cannot dial on its own."""
        if handshake is None:
            return None  # journaled before handshakes were kept with the backlog
        if not handshake.authorized:
            return {}
        if handshake.sealed_authorization is None or self._sealer is None:
            return None
        authorization = self._sealer.open(identity, handshake.sealed_authorization)
        return None if authorization is None else {"Authorization": authorization}

    async def _deliver(
        self, journal: Journal, identity: str, handshake: StoredHandshake, headers: dict[str, str]
    ) -> None:
        version = OcppVersion.from_subprotocol(handshake.subprotocol)
        if version is None:
            return
        async with self._replay_slots:
            await self._dial_and_replay(journal, identity, version, handshake, headers)

    async def _dial_and_replay(
        self,
        journal: Journal,
        identity: str,
        version: OcppVersion,
        handshake: StoredHandshake,
        headers: dict[str, str],
    ) -> None:
        try:
            csms = await self._dial(handshake.path, [handshake.subprotocol], headers)
        except UpstreamRefused as refusal:
            self._metrics.upstream_connect_failures.labels(refusal.reason).inc()
            if refusal.reason not in OUTAGE_REASONS:
                self._refused.add(identity)
                log.warning(
                    "%s: the CSMS refuses a replay without the charger (%s)", identity, refusal
                )
            return
        try:
            if csms.protocol == handshake.subprotocol:
                log.info("%s: delivering its backlog to the CSMS without the charger", identity)
                await self._replay(journal, identity, version, csms)
        except ConnectionError:
            log.info("%s: CSMS link lost during a replay without the charger", identity)
        finally:
            await csms.close()

    async def _replay(
        self, journal: Journal, identity: str, version: OcppVersion, csms: ClientWebSocketResponse
    ) -> None:
        relay = OfflineRelay(
            identity,
            version,
            self._settings,
            self._knowledge,
            await journal.transaction_map(identity),
            (),  # no StartTransaction is answered here: no provisional ids needed
        )
        backlog = await replay_records.backlog(journal, identity)
        step: tuple[list[Send], list[OfflineOutput]] | None = relay.begin_replay(backlog)
        while step is not None:
            sends, outputs = step
            # What an answer taught is journaled before the next frame goes (as on a link).
            for output in outputs:
                await replay_records.record(journal, self._metrics, identity, output)
            if relay.state is UpstreamState.LIVE:
                log.info("%s: backlog delivered without the charger", identity)
                return
            for send in sends:
                await csms.send_str(send.text)
            step = await self._answer(relay, version, csms)

    async def _answer(
        self, relay: OfflineRelay, version: OcppVersion, csms: ClientWebSocketResponse
    ) -> tuple[list[Send], list[OfflineOutput]] | None:
        """The replay's next step once the CSMS answered (or did not in time); None when the
        link closed (the next round starts again from the journal)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._call_timeout_s
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await csms.receive()
            except TimeoutError:
                return relay.replay_deadline_passed(), []
            if message.type is not WSMsgType.TEXT:
                if message.type in _CLOSED:
                    return None
                continue
            frame = parse_frame(message.data, version)
            if isinstance(frame, CallResult | CallError) and relay.owns(frame.message_id):
                return relay.replay_answered(frame)
