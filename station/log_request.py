"""GetLog (2.0.1 N01) on the LC's own link, sans-I/O: what a request asks for, the name and
content of the file to upload, and where it may go."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ocpp_knowledge.ocpp_time import from_ocpp_time, to_ocpp_time
from station.security_log import SecurityEvent

# When the CSMS leaves retries / retryInterval out, the LC decides (N01): a few tries.
DEFAULT_RETRIES = 2
DEFAULT_RETRY_INTERVAL_S = 30.0
# Uploads go over HTTP(S) (N01.FR.14); FTP is not supported.
UPLOAD_SCHEMES = ("http", "https")


@dataclass(frozen=True, slots=True)
class LogRequest:
    request_id: int
    log_type: str  # SecurityLog or DiagnosticsLog
    location: str  # may carry user:password@ (N01.FR.17): never logged as it is
    retries: int
    retry_interval_s: float
    oldest: float | None  # wall times; None: open
    latest: float | None


def log_request(payload: dict[str, Any]) -> LogRequest:
    """A schema-valid GetLogRequest, read."""
    parameters = payload["log"]
    return LogRequest(
        request_id=int(payload["requestId"]),
        log_type=str(payload["logType"]),
        location=str(parameters["remoteLocation"]),
        retries=int(payload.get("retries", DEFAULT_RETRIES)),
        retry_interval_s=float(payload.get("retryInterval", DEFAULT_RETRY_INTERVAL_S)),
        oldest=_moment(parameters.get("oldestTimestamp")),
        latest=_moment(parameters.get("latestTimestamp")),
    )


def _moment(text: str | None) -> float | None:
    return None if text is None else from_ocpp_time(text).timestamp()


def uploadable(location: str) -> bool:
    parts = urlsplit(location)
    return parts.scheme in UPLOAD_SCHEMES and bool(parts.hostname)


def file_name(identity: str, request: LogRequest, now: float) -> str:
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{identity}-{request.log_type}-{request.request_id}-{stamp}.log"[:255]


def security_log_file(events: Iterable[SecurityEvent]) -> str:
    """One event per line: time, type, critical or not, tech info (tab-separated)."""
    return "".join(
        "\t".join(
            (
                to_ocpp_time(datetime.fromtimestamp(event.timestamp, UTC)),
                event.type,
                "critical" if event.critical else "-",
                event.tech_info.replace("\n", " "),
            )
        )
        + "\n"
        for event in events
    )
