"""The CSMS side of a link: pump the CSMS link and, under the `hold` policy, outlive its loss.

While the CSMS is unreachable the session answers the charger (its offline outputs, carried
out by the link's outputs); this redials, delivers the journaled backlog before anything new
from the charger, and moves the link to a new connection on request (a renewed TLS identity
of the LC). All decisions are the session's; this only does the waiting and the dialling.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp.client_ws import ClientWebSocketResponse

from router import events as ev
from router import replay_records
from router.link_outputs import LinkOutputs, LinkParts
from router.outputs import Direction
from router.pump import Pump
from router.upstream import OUTAGE_REASONS, UpstreamRefused

log = logging.getLogger(__name__)


class CsmsSide:
    def __init__(self, parts: LinkParts, outputs: LinkOutputs) -> None:
        self._parts = parts
        self._session = parts.session
        self._identity = parts.session.identity
        self._outputs = outputs  # its `csms` is the CSMS link, None while it is unreachable
        self._metrics = parts.metrics
        self._publish = parts.publish
        self._hold = parts.hold
        self._loop = asyncio.get_running_loop()
        self._dialled = asyncio.Event()  # set at each new CSMS link (`hold` only)

    async def run(self) -> None:
        """Pump the CSMS link; under `hold`, survive its loss: answer locally and redial."""
        outputs = self._outputs
        while True:
            if outputs.csms is None:
                outputs.csms = await self._redial()
                if outputs.csms is None:
                    return  # the CSMS is back but refuses this charger now: so must we
                self._dialled.set()
                self._publish(ev.CsmsLinkChanged(self._identity, connected=True))
            if self._hold is not None:
                await self._restore()
            connected = self._metrics.upstream_connected
            connected.set(self._identity, 1)
            route = self._session.route_from_csms
            pump = Pump(Direction.TO_CHARGER, outputs.csms, route, self._parts, outputs)
            await pump.run()
            connected.set(self._identity, 0)
            if self._hold is None:
                return
            log.warning("%s: CSMS link lost; answering the charger locally", self._identity)
            outputs.csms = None
            self._publish(ev.CsmsLinkChanged(self._identity, connected=False))
            await outputs.execute(self._session.upstream_lost(self._loop.time()))

    async def start_offline(self) -> None:
        """Begin with the CSMS unreachable: answer the charger here until a redial works."""
        self._metrics.upstream_connected.set(self._identity, 0)
        await self._outputs.execute(self._session.upstream_lost(self._loop.time()))

    async def resume_refusals(self) -> None:
        """Finish what an earlier link (or LC run) could not: refusals the charger never
        answered."""
        assert self._hold is not None
        journaled = await self._hold.journal.refusals(self._identity)
        if journaled:
            now = self._loop.time()
            await self._outputs.execute(self._session.refusals_journaled(journaled, now))

    async def move(self, timeout_s: float, ended: asyncio.Event) -> bool:
        """Close the CSMS link and wait until it is dialled again; see Link.redial_csms."""
        if self._hold is None or self._outputs.csms is None:
            return False
        try:
            # The charger's answer to a CSMS call goes over the link it came by: let it.
            await asyncio.wait_for(self._csms_calls_answered(), timeout_s)
        except TimeoutError:
            log.warning("%s: moving its CSMS link with a CSMS call unanswered", self._identity)
        csms = self._outputs.csms
        if csms is None:  # lost meanwhile: the redial under way uses the new identity
            return False
        self._dialled.clear()
        await csms.close(code=1001, message=b"the LC renews its TLS identity")
        dialled = asyncio.create_task(self._dialled.wait())
        ending = asyncio.create_task(ended.wait())
        try:
            await asyncio.wait(
                [dialled, ending], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            dialled.cancel()
            ending.cancel()
        return self._dialled.is_set()

    async def _csms_calls_answered(self) -> None:
        while self._session.csms_calls_in_flight:
            self._outputs.done.clear()
            await self._outputs.done.wait()

    async def _redial(self) -> ClientWebSocketResponse | None:
        """The CSMS link again, or None when the CSMS answers but refuses the charger."""
        assert self._hold is not None
        while True:
            await asyncio.sleep(self._hold.redial_interval_s)
            try:
                return await self._hold.redial()
            except UpstreamRefused as refusal:
                self._metrics.upstream_connect_failures.labels(refusal.reason).inc()
                if refusal.reason not in OUTAGE_REASONS:
                    log.warning("%s: the CSMS now refuses it (%s)", self._identity, refusal)
                    return None
                log.debug("%s: CSMS still unreachable (%s)", self._identity, refusal.reason)

    async def _restore(self) -> None:
        """Deliver what the CSMS missed, in order, before anything new from the charger."""
        assert self._hold is not None
        self._session.hold_for_replay()
        backlog = await replay_records.backlog(self._hold.journal, self._identity)
        if backlog:
            log.info("%s: replaying %d messages to the CSMS", self._identity, len(backlog))
        await self._outputs.execute(self._session.upstream_restored(backlog, self._loop.time()))
