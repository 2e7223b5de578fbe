"""The chargers' running links, one per identity: what the `chargers.Chargers` seam calls
through, what a charger's new connection replaces, and what the router closes when it stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import KeysView
from typing import Any

from router.chargers import ChargerNotConnected
from router.frames import OcppVersion
from router.link import Link
from router.metrics import RouterMetrics

log = logging.getLogger(__name__)


class LinkRegistry:
    def __init__(self, metrics: RouterMetrics) -> None:
        self._metrics = metrics
        self._links: dict[str, Link] = {}
        metrics.watch_queue_depths(
            lambda: [link.session.queue_depth for link in self._links.values()]
        )

    def __contains__(self, identity: object) -> bool:
        return identity in self._links

    def identities(self) -> KeysView[str]:
        """The chargers connected, as a live view: read when used, never copied per
        connection (a storm of N connections held N copies of up to N identities)."""
        return self._links.keys()

    def connected(self) -> dict[str, OcppVersion]:
        return {identity: link.version for identity, link in self._links.items()}

    async def call(
        self, identity: str, action: str, payload: dict[str, Any], timeout_s: float | None
    ) -> dict[str, Any]:
        link = self._links.get(identity)
        if link is None:
            raise ChargerNotConnected(identity)
        return await link.call(action, payload, timeout_s)

    async def close_previous(self, identity: str) -> None:
        """Close the charger's running link, if any, and wait until it finished: its new
        connection takes its place."""
        previous = self._links.get(identity)
        if previous is not None:
            log.info("%s: new connection replaces the current one", identity)
            previous.close(reason="replaced by a new connection")
            await previous.finished.wait()

    def add(self, link: Link) -> None:
        self._links[link.identity] = link

    async def run(self, link: Link, offline: bool) -> None:
        """Run an added link until it ends (`offline`: its CSMS is unreachable at the start)."""
        identity = link.identity
        self._metrics.connections.inc()
        gauge = self._metrics.chargers_connected.labels(link.version.value)
        gauge.inc()
        try:
            if offline:
                await link.start_offline()
            reason = await link.run()
            log.info("%s: disconnected (%s)", identity, reason)
        finally:
            gauge.dec()
            if self._links.get(identity) is link:
                del self._links[identity]

    async def redial_csms(self, timeout_s: float) -> int:
        """Move the open CSMS links to the TLS context given last, one charger at a time, so
        the CSMS never sees them all reconnect at once. The number moved."""
        moved = 0
        for link in list(self._links.values()):
            if await link.redial_csms(timeout_s):
                moved += 1
            else:
                log.warning("%s: its CSMS link did not move to the new TLS identity", link.identity)
        return moved

    async def close_all(self, reason: str) -> None:
        """Close every link and wait until each finished its close handshakes."""
        links = list(self._links.values())
        for link in links:
            link.close(reason=reason)
        if links:
            await asyncio.wait([asyncio.create_task(link.finished.wait()) for link in links])
