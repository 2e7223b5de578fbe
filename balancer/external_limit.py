"""The site limit an EMS sets from outside OCPP (K14), pure: A per phase, by where it came from.

Two inputs may set it: the HTTP endpoint (with an optional expiry) and the Modbus register the
LC serves. The lower of the two applies. The Modbus one has a watchdog: an EMS that wrote once
and then falls silent for longer than the watchdog is replaced by the configured fallback
(None: released), because a limit the EMS no longer confirms may no longer be what it wants,
and a dead EMS must not pin the site low or high for ever. Times are wall seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ExternalInput(StrEnum):
    HTTP = "http"
    MODBUS = "modbus"


@dataclass(frozen=True, slots=True)
class Watchdog:
    timeout_s: float
    fallback_a: float | None  # what applies once the EMS is silent; None: no limit


@dataclass(frozen=True, slots=True)
class _Setting:
    amps: float | None  # None: the input said "no limit"
    at: float
    expires_at: float | None


class ExternalLimit:
    def __init__(self, modbus_watchdog: Watchdog | None = None) -> None:
        self._watchdog = modbus_watchdog
        self._settings: dict[ExternalInput, _Setting] = {}

    def set(
        self,
        source: ExternalInput,
        amps: float | None,
        now: float,
        expires_at: float | None = None,
    ) -> None:
        """`source` says the site may draw `amps` per phase (None: no limit) until `expires_at`;
        for the Modbus input, this also feeds the watchdog."""
        self._settings[source] = _Setting(amps, now, expires_at)

    def release(self, source: ExternalInput) -> None:
        self._settings.pop(source, None)

    def limit_a(self, now: float) -> float | None:
        """The external limit in force at `now`, A per phase; None when there is none."""
        limits = [amps for source in ExternalInput if (amps := self.of(source, now)) is not None]
        return min(limits, default=None)

    def next_change(self, now: float) -> float | None:
        """The next time `limit_a` may change with no new input: an expiry or the watchdog."""
        times = [s.expires_at for s in self._settings.values() if s.expires_at is not None]
        modbus = self._settings.get(ExternalInput.MODBUS)
        if modbus is not None and self._watchdog is not None:
            times.append(modbus.at + self._watchdog.timeout_s)
        return min((t for t in times if t > now), default=None)

    def of(self, source: ExternalInput, now: float) -> float | None:
        """What `source` limits the site to at `now`, A per phase; None: nothing."""
        setting = self._settings.get(source)
        if setting is None or (setting.expires_at is not None and now >= setting.expires_at):
            return None
        watchdog = self._watchdog
        if source is ExternalInput.MODBUS and watchdog and now - setting.at > watchdog.timeout_s:
            return watchdog.fallback_a
        return setting.amps
