"""PublishFirmware and UnpublishFirmware on the LC's own identity (L03, L04).

`publish_firmware` and `unpublish_firmware` take and give OCPP 2.0.1 payloads, to be
registered as the handlers of those CSMS calls. The PublishFirmwareStatusNotification
payloads to send to the CSMS come out of `notices`, in order; refusals a security log should
hold (a name that would leave the folder, a file beyond the budget, a full disk) go to
`security_event(type, detail)`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from prometheus_client import CollectorRegistry, Counter

from firmware.download import DownloadError, Refused, download, md5_of
from firmware.publication import BadRequest, Notice, Publication, PublishRequest
from firmware.server import FileServer
from firmware.store import FirmwareStore, UnsafeName, file_name
from ocpp_knowledge.security_events import RecordSecurityEvent
from ocpp_knowledge.status_info import rejected
from supervision.tasks import Tasks

log = logging.getLogger(__name__)

# A read that stalls this long ends the attempt (the next one resumes it).
READ_TIMEOUT_S = 60.0


def _log_security_event(kind: str, detail: str) -> None:
    log.warning("security event %s: %s", kind, detail)


class FirmwarePublisher:
    def __init__(
        self,
        store: FirmwareStore,
        server: FileServer,
        registry: CollectorRegistry,
        security_event: RecordSecurityEvent = _log_security_event,
        http_timeout: aiohttp.ClientTimeout | None = None,
    ) -> None:
        self._store = store
        self._server = server
        self._security_event = security_event
        self._timeout = http_timeout or aiohttp.ClientTimeout(sock_read=READ_TIMEOUT_S)
        self.notices: asyncio.Queue[Notice] = asyncio.Queue()
        self._publication: Publication | None = None
        # The download runs as a supervised task, so a crash in it is logged and counted.
        self._tasks = Tasks("firmware publisher")
        self._task: asyncio.Task[None] | None = None
        self.outcomes = Counter(
            "ocpp_lc_firmware_publications",
            "PublishFirmware requests that ended, by their last status",
            ["status"],
            registry=registry,
        )

    def publish_firmware(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A PublishFirmwareRequest payload in, the PublishFirmwareResponse payload out."""
        try:
            request = PublishRequest.from_payload(payload)
            name = file_name(request.location)
        except BadRequest as exc:
            return rejected("InvalidValue", str(exc))
        except UnsafeName as exc:
            self._security_event("FirmwareFileNameRefused", f"{exc} in PublishFirmware")
            return rejected("InvalidValue", "the URL names no plain file")
        if urlsplit(request.location).scheme not in ("http", "https"):
            return rejected("UnsupportedRequest", "the LC downloads over HTTP and HTTPS only")
        if self._task is not None and not self._task.done():
            return rejected("Busy", "another PublishFirmware is in progress")
        self._publication = Publication(request)
        self._task = self._tasks.spawn(self._publish(self._publication, name), "firmware download")
        return {"status": "Accepted"}

    def unpublish_firmware(self, payload: dict[str, Any]) -> dict[str, Any]:
        """An UnpublishFirmwareRequest payload in, the UnpublishFirmwareResponse payload out."""
        checksum = str(payload.get("checksum", "")).lower()
        if self._store.get(checksum) is None:
            return {"status": "NoFirmware"}
        if self._server.downloading(checksum):
            return {"status": "DownloadOngoing"}  # L04.FR.04: stays published
        self._store.unpublish(checksum)
        log.info("firmware %s unpublished", checksum)
        return {"status": "Unpublished"}

    def triggered_notice(self) -> Notice:
        """The PublishFirmwareStatusNotification a TriggerMessage asks for (L03.FR.10/11)."""
        if self._publication is None:
            return {"status": "Idle"}
        return self._publication.triggered()

    async def close(self) -> None:
        await self._tasks.stop()

    def _send(self, notices: list[Notice]) -> None:
        for notice in notices:
            self.notices.put_nowait(notice)
        if self._publication is not None and self._publication.over:
            self.outcomes.labels(self._publication.status).inc()

    async def _publish(self, publication: Publication, name: str) -> None:
        request = publication.request
        self._send(publication.begin())
        if not await self._download(publication):
            return
        partial = self._store.partial(request.checksum)
        md5 = await asyncio.to_thread(md5_of, partial)
        self._send(publication.downloaded(md5))
        if publication.over:  # InvalidChecksum: the file is not what the CSMS meant
            self._store.discard_partial(request.checksum)
            return
        try:
            published = self._store.publish(request.checksum, name, request.request_id)
        except OSError as exc:
            log.error("cannot publish firmware %s: %s", request.checksum, exc.strerror)
            self._store.discard_partial(request.checksum)
            self._send(publication.refused("PublishFailed"))
            return
        log.info("firmware %s published as %s", request.checksum, name)
        self._send(publication.published(self._server.uris(published)))

    async def _download(self, publication: Publication) -> bool:
        """Download with the retries the request allows; whether the file is complete."""
        request = publication.request
        target = self._store.partial(request.checksum)
        budget = self._store.budget_for(request.checksum)
        async with aiohttp.ClientSession(timeout=self._timeout) as http:
            while True:
                try:
                    await download(http, request.location, target, budget)
                    return True
                except Refused as exc:
                    kind = "FirmwareTooLarge" if exc.reason == "too_large" else "FirmwareDiskFull"
                    self._security_event(kind, f"PublishFirmware {request.request_id}: {exc}")
                    self._send(publication.refused("DownloadFailed"))
                    return False
                except DownloadError as exc:
                    log.warning("firmware download %s failed: %s", request.request_id, exc)
                    notices, retry_at = publication.attempt_failed(time.monotonic())
                    self._send(notices)
                    if retry_at is None:
                        self._store.discard_partial(request.checksum)
                        return False
                await asyncio.sleep(max(0.0, retry_at - time.monotonic()))
