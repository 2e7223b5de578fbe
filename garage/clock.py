"""The garage's clock: aware UTC datetimes, injectable so tests can fix time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime; injectable so tests can fix time."""


def utc_now() -> datetime:
    return datetime.now(UTC)
