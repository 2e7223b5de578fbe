"""Why the LC's next start happens, kept across the restart in a private file beside the
station state: the reason (2.0.1 BootReasonEnumType) of the next process's BootNotification.

Whoever ends the process for a reason writes it (a Reset, a firmware update, the launcher after
a crash); the next process takes it once. No marker is a plain start: PowerUp.
"""

from __future__ import annotations

from pathlib import Path

from config_file.private_file import write_private

MARKER_FILE = "ocpp-lc-next-boot-reason"
PLAIN_START = "PowerUp"
# BootReasonEnumType; anything else in the file (a damaged one) counts as a plain start.
REASONS = frozenset(
    {
        "ApplicationReset",
        "FirmwareUpdate",
        "LocalReset",
        "PowerUp",
        "RemoteReset",
        "ScheduledReset",
        "Triggered",
        "Unknown",
        "Watchdog",
    }
)


class NextBootReason:
    def __init__(self, state_folder: Path) -> None:
        self.path = state_folder / MARKER_FILE

    def set(self, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"not a boot reason: {reason!r}")
        write_private(self.path, reason.encode())

    def take(self) -> str:
        """The reason of this start; the marker is gone afterwards."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").strip()
        except FileNotFoundError:
            return PLAIN_START
        self.path.unlink(missing_ok=True)
        return text if text in REASONS else PLAIN_START
