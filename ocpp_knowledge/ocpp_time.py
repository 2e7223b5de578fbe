"""Wall-clock time as OCPP carries it: aware UTC datetimes, ISO 8601 text on the wire."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime; injectable so tests can fix time."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_ocpp_time(moment: datetime, timespec: str = "milliseconds") -> str:
    """ISO 8601 with a Z, to milliseconds (the form chargers commonly send) unless `timespec`
    says otherwise (as `datetime.isoformat` takes it)."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def from_ocpp_time(text: str) -> datetime:
    """Parse an OCPP dateTime; one without an offset is taken as UTC (OCPP requires UTC)."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
