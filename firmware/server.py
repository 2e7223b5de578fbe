"""The file server chargers download published firmware from, on the site network.

GET /firmware/<checksum>/<name>, over HTTP and, with the LC's charger-facing certificate,
HTTPS; Range requests are answered, so a charger can resume. Every fetch is logged with the
charger's source address and counted; the fetches in progress per file are what
UnpublishFirmware must wait for (L04.FR.04). Fetches beyond the `FetchSlots` limits are
answered 503 with Retry-After, which a charger's download retry honours.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections import Counter as Tally
from urllib.parse import quote

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from prometheus_client import CollectorRegistry, Counter

from firmware.fetch_slots import (
    DEFAULT_MAX_FETCHES,
    DEFAULT_MAX_FETCHES_PER_CLIENT,
    RETRY_AFTER_S,
    FetchSlots,
)
from firmware.store import FirmwareStore, PublishedFile

log = logging.getLogger(__name__)


class _FileSentInHandler(web.FileResponse):
    """A file sent inside the handler, so the handler knows when a charger's fetch is over.
    aiohttp prepares the response a handler returns once more, which a FileResponse would
    answer by sending the file again into a finished response."""

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self.prepared:
            return None
        return await super().prepare(request)


class FileServer:
    def __init__(
        self,
        store: FirmwareStore,
        public_host: str,
        registry: CollectorRegistry,
        max_fetches: int = DEFAULT_MAX_FETCHES,
        max_fetches_per_client: int = DEFAULT_MAX_FETCHES_PER_CLIENT,
    ) -> None:
        self._store = store
        self._public_host = public_host
        self._in_progress: Tally[str] = Tally()
        self._slots = FetchSlots(max_fetches, max_fetches_per_client)
        self._runner: web.AppRunner | None = None
        self._ports: dict[str, int] = {}  # scheme -> port, once listening
        self.fetches = Counter(
            "ocpp_lc_firmware_fetches",
            "Downloads of published firmware files by chargers, by file and outcome",
            ["file", "outcome"],
            registry=registry,
        )

    async def listen(
        self, scheme: str, host: str, port: int, tls: ssl.SSLContext | None = None
    ) -> None:
        """Serve over `scheme` ("http", or "https" with `tls`) on host:port (0: any free
        port); raises OSError when it cannot listen."""
        if self._runner is None:
            app = web.Application()
            app.router.add_get("/firmware/{checksum}/{name}", self._fetch)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listening = socket.create_server((host, port), family=family)
        await web.SockSite(self._runner, listening, ssl_context=tls).start()
        self._ports[scheme] = listening.getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def uris(self, published: PublishedFile) -> list[str]:
        """Where chargers fetch the file, one URI per protocol served (L03.FR.04)."""
        host = f"[{self._public_host}]" if ":" in self._public_host else self._public_host
        path = f"/firmware/{published.checksum}/{quote(published.name)}"
        return [f"{scheme}://{host}:{port}{path}" for scheme, port in self._ports.items()]

    def downloading(self, checksum: str) -> bool:
        return self._in_progress[checksum] > 0

    @property
    def fetches_in_progress(self) -> int:
        return self._slots.in_use

    async def _fetch(self, request: web.Request) -> web.StreamResponse:
        checksum, name = request.match_info["checksum"], request.match_info["name"]
        published = self._store.get(checksum)
        if published is None or published.name != name:
            log.info("%s asked for %r: not published", request.remote, request.path[:200])
            raise web.HTTPNotFound()
        label = f"{checksum}/{name}"
        client = request.remote or ""
        if not self._slots.take(client):
            log.info("%s asked for %s: too many fetches at once, told to retry", client, label)
            self.fetches.labels(label, "busy").inc()
            raise web.HTTPServiceUnavailable(headers={"Retry-After": str(RETRY_AFTER_S)})
        self._in_progress[checksum] += 1
        try:
            response = _FileSentInHandler(self._store.path(published))
            await response.prepare(request)  # sends the file (or the range asked for)
            await response.write_eof()
        except OSError as exc:  # the charger went away (or the file did, being unpublished)
            log.warning("%s broke off fetching %s: %s", request.remote, label, exc)
            self.fetches.labels(label, "broken_off").inc()
            return response
        finally:
            self._in_progress[checksum] -= 1
            self._slots.give_back(client)
        log.info("%s fetched %s (%s)", request.remote, label, request.headers.get("Range", "whole"))
        self.fetches.labels(label, "sent").inc()
        return response
