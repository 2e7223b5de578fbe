"""GetLog on the LC's own link (2.0.1 N01): the CSMS asks for the security log or the recent
log lines, the LC answers at once and uploads the file as a multipart/form-data POST (N01.FR.19:
a part "uploadfile" with the file name, application/octet-stream) to the given HTTP(S)
location, with LogStatusNotification Uploading, then Uploaded or UploadFailure after the
retries. A new GetLog while one is uploading cancels it (N01.FR.12, AcceptedCanceled)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from station.diagnostics_log import RecentLogLines, without_secrets
from station.link import StationCallFailed, StationLink
from station.log_request import (
    LogRequest,
    file_name,
    log_request,
    security_log_file,
    uploadable,
)
from station.security_log import SecurityLog
from supervision.tasks import Tasks

log = logging.getLogger(__name__)

NOTIFICATION = "LogStatusNotification"
UPLOAD_TIMEOUT_S = 60.0

# (log type, oldest, latest) -> the file's text; "" when there is nothing to upload.
LogSource = Callable[[str, float | None, float | None], str]


def lc_logs(security_log: SecurityLog, recent: RecentLogLines) -> LogSource:
    """The LC's two logs: its security log and its recent log lines."""

    def source(log_type: str, oldest: float | None, latest: float | None) -> str:
        if log_type == "SecurityLog":
            return security_log_file(security_log.between(oldest, latest))
        if log_type == "DiagnosticsLog":
            return recent.between(oldest, latest)
        return ""

    return source


class LogUploadFailed(Exception):
    pass


class LogUploads:
    def __init__(
        self,
        link: StationLink,
        source: LogSource,
        tasks: Tasks,
    ) -> None:
        self._link = link
        self._source = source
        self._tasks = tasks
        self._current: tuple[LogRequest, asyncio.Task[None]] | None = None

    def wire(self) -> None:
        self._link.register("GetLog", self.get_log)
        self._link.on_trigger(NOTIFICATION, self._triggered)

    def get_log(self, payload: dict[str, Any]) -> dict[str, Any]:
        request = log_request(payload)
        if not uploadable(request.location):
            return _rejected("UnsupportedParam", "the LC uploads over http:// or https:// only")
        content = self._source(request.log_type, request.oldest, request.latest)
        if not content:
            return _rejected("NoLogs", f"no {request.log_type} entries in that time range")
        name = file_name(self._link.settings.identity, request, time.time())
        canceled = self._cancel_current()
        self._link.after_answer(lambda: self._start(request, name, content, canceled))
        return {"status": "AcceptedCanceled" if canceled else "Accepted", "filename": name}

    def _cancel_current(self) -> LogRequest | None:
        if self._current is None or self._current[1].done():
            return None
        request, task = self._current
        task.cancel()
        self._current = None
        return request

    async def _start(
        self, request: LogRequest, name: str, content: str, canceled: LogRequest | None
    ) -> None:
        if canceled is not None:  # N01.FR.20
            await self._notify("AcceptedCanceled", canceled.request_id)
        task = self._tasks.spawn(self._upload(request, name, content.encode()), "GetLog upload")
        self._current = (request, task)

    async def _triggered(self) -> None:
        # F06.FR.14/15: Uploading (with its requestId) during an upload, else Idle.
        if self._current is not None and not self._current[1].done():
            await self._notify("Uploading", self._current[0].request_id)
        else:
            await self._notify("Idle", None)

    async def _upload(self, request: LogRequest, name: str, content: bytes) -> None:
        where = without_secrets(request.location)
        await self._notify("Uploading", request.request_id)
        for attempt in range(request.retries + 1):
            if attempt:
                await asyncio.sleep(request.retry_interval_s)
            try:
                await self._post(request.location, name, content)
            except LogUploadFailed as exc:
                log.warning(
                    "GetLog %d to %s: try %d failed: %s",
                    request.request_id,
                    where,
                    attempt + 1,
                    exc,
                )
                continue
            log.info("GetLog %d: %s uploaded to %s", request.request_id, name, where)
            await self._notify("Uploaded", request.request_id)
            return
        await self._notify("UploadFailure", request.request_id)

    async def _post(self, location: str, name: str, content: bytes) -> None:
        form = aiohttp.FormData()
        form.add_field(
            "uploadfile", content, filename=name, content_type="application/octet-stream"
        )
        timeout = aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT_S)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                # https: verified against the system's CAs (N01.FR.16).
                http.post(location, data=form) as response,
            ):
                if response.status >= 300:
                    raise LogUploadFailed(f"HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # The exception's text may repeat the URL with its password: only its kind.
            raise LogUploadFailed(type(exc).__name__) from None

    async def _notify(self, status: str, request_id: int | None) -> None:
        payload: dict[str, Any] = {"status": status}
        if request_id is not None:
            payload["requestId"] = request_id
        try:
            await self._link.call(NOTIFICATION, payload)
        except StationCallFailed as exc:
            log.warning("%s %s not delivered: %s", NOTIFICATION, status, exc)
        except ValueError:
            # A status the link's OCPP version lacks (1.6 security: no AcceptedCanceled).
            log.info("%s %s: not in this OCPP version, not sent", NOTIFICATION, status)


def _rejected(reason: str, info: str) -> dict[str, Any]:
    return {"status": "Rejected", "statusInfo": {"reasonCode": reason, "additionalInfo": info}}
