"""The LC's recent log lines, kept in memory for GetLog DiagnosticsLog (2.0.1 N01): a bounded
ring, the oldest lines dropped first. The LC logs no credentials; what looks like one (a
Basic-auth header, a password in a URL) is blanked here all the same, since the file leaves
the box."""

from __future__ import annotations

import logging
import re
from collections import deque
from datetime import UTC, datetime

from ocpp_knowledge.ocpp_time import to_ocpp_time

DEFAULT_LINES = 5000
_SECRETS = (
    (re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._~-]+"), r"\1 ***"),
    (re.compile(r"(?i)(\w+://[^/\s:@]*):[^@\s/]*@"), r"\1:***@"),
)


def without_secrets(line: str) -> str:
    for pattern, replacement in _SECRETS:
        line = pattern.sub(replacement, line)
    return line


class RecentLogLines(logging.Handler):
    def __init__(self, capacity: int = DEFAULT_LINES) -> None:
        super().__init__(logging.INFO)
        self._lines: deque[tuple[float, str]] = deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a bad format string in someone's log call must not spread
            text = str(record.msg)
        self._lines.append((record.created, f"{record.levelname} {record.name}: {text}"))

    def between(self, oldest: float | None, latest: float | None) -> str:
        """The lines from `oldest` to `latest` (wall times, included; None: open), one per
        line with its time."""
        return "".join(
            f"{to_ocpp_time(datetime.fromtimestamp(created, UTC))} {without_secrets(line)}\n"
            for created, line in list(self._lines)
            if (oldest is None or created >= oldest) and (latest is None or created <= latest)
        )
