"""One PublishFirmware request as a state machine (sans-I/O, L03).

It takes what happened (the download began, an attempt failed, the file arrived with this
MD5, it is published at these URIs) and gives the PublishFirmwareStatusNotification payloads
to send: one for every new status (L03.FR.01), in the order the spec lists them. Whether to
try again, and when, is decided here too; the asyncio side only downloads and waits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

Notice = dict[str, Any]  # a PublishFirmwareStatusNotificationRequest payload

_MD5 = re.compile(r"[0-9a-fA-F]{32}")
# Statuses after which the request is over.
FINAL = frozenset({"Published", "DownloadFailed", "InvalidChecksum", "PublishFailed"})


def is_md5(text: str) -> bool:
    return _MD5.fullmatch(text) is not None


class BadRequest(ValueError):
    """A PublishFirmware payload the LC cannot act on (the schema lets it through)."""


@dataclass(frozen=True, slots=True)
class PublishRequest:
    request_id: int
    location: str
    checksum: str  # MD5 of the whole file (L03.FR.02), lower-case hex
    retries: int  # attempts after the first one
    retry_interval_s: float

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> PublishRequest:
        """From a schema-valid PublishFirmwareRequest payload."""
        checksum = payload.get("checksum")
        if not isinstance(checksum, str) or not is_md5(checksum):
            raise BadRequest("checksum is not an MD5 in hex")
        numbers = [payload.get("requestId"), payload.get("retries", 0)]
        numbers.append(payload.get("retryInterval", 0))
        if not all(type(v) is int and v >= 0 for v in numbers):
            raise BadRequest("requestId, retries and retryInterval must be integers >= 0")
        request_id, retries, interval = (int(v) for v in numbers)
        location = payload.get("location")
        if not isinstance(location, str):
            raise BadRequest("location is not a string")
        return cls(request_id, location, checksum.lower(), retries, float(interval))


class Publication:
    def __init__(self, request: PublishRequest) -> None:
        self.request = request
        self.status = "Idle"  # the last status sent
        self.failed_attempts = 0

    def begin(self) -> list[Notice]:
        return self._enter("Downloading")

    def attempt_failed(self, now: float) -> tuple[list[Notice], float | None]:
        """An attempt to download failed: (what to send, when to try again or None: never)."""
        self._expect("Downloading")
        self.failed_attempts += 1
        if self.failed_attempts <= self.request.retries:
            return [], now + self.request.retry_interval_s
        return self._enter("DownloadFailed"), None

    def refused(self, status: str) -> list[Notice]:
        """The LC will not keep this file (too large for the budget, the disk full, a name it
        cannot store): DownloadFailed while downloading, PublishFailed after."""
        assert status in ("DownloadFailed", "PublishFailed")
        return self._enter(status)

    def downloaded(self, md5: str) -> list[Notice]:
        """The whole file arrived; `md5` is its checksum in hex."""
        self._expect("Downloading")
        verified = md5.lower() == self.request.checksum
        return self._enter("Downloaded") + self._enter(
            "ChecksumVerified" if verified else "InvalidChecksum"
        )

    def published(self, uris: list[str]) -> list[Notice]:
        """Served at `uris`, one per protocol (L03.FR.03, L03.FR.04)."""
        self._expect("ChecksumVerified")
        return self._enter("Published", uris)

    def triggered(self) -> Notice:
        """What a TriggerMessage for PublishFirmwareStatusNotification gets (L03.FR.10/11)."""
        return self._notice("Idle" if self.status == "Published" else self.status)

    @property
    def over(self) -> bool:
        return self.status in FINAL

    def _expect(self, status: str) -> None:
        if self.status != status:
            raise RuntimeError(f"publication {self.request.request_id} is {self.status}")

    def _enter(self, status: str, uris: list[str] | None = None) -> list[Notice]:
        if self.over:
            raise RuntimeError(f"publication {self.request.request_id} is over ({self.status})")
        self.status = status
        return [self._notice(status, uris)]

    def _notice(self, status: str, uris: list[str] | None = None) -> Notice:
        notice: Notice = {"status": status, "requestId": self.request.request_id}
        if uris:
            notice["location"] = uris
        return notice
