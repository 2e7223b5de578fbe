"""Which charger handshakes the LC starts at all (pure: the time is an argument).

Every handshake costs a CSMS connection, so a device on the site network that opens them as
fast as it can would amplify into the CSMS and take the LC's CPU from the chargers. Before
anything else the LC checks that the handshake's source address is within its rate (a token
bucket per address, bursts allowed so a site's chargers can all come back after a power cut)
and that not too many handshakes are in progress at once.

An IPv6 host usually holds a whole /64 and picks addresses in it at will (privacy addresses),
so IPv6 sources are rate-limited per /64 prefix: rotating addresses gives no fresh budget.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass

from router.rate_limit import FrameBudget

# Source addresses whose buckets are kept; beyond this the one seen longest ago is forgotten.
MAX_TRACKED_SOURCES = 4096
# What one IPv6 host (a subnet, by RFC 4291's interface identifiers) may pick addresses from.
IPV6_HOST_PREFIX = 64


def rate_key(source: str) -> str:
    """Whose budget a handshake from `source` spends: an IPv4 address itself (also when mapped
    into IPv6), an IPv6 address's /64, anything else (a Unix socket, "unknown") as it is."""
    try:
        address = ipaddress.ip_address(source.split("%", 1)[0])  # without an IPv6 zone
    except ValueError:
        return source
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_HOST_PREFIX), strict=False))
    return str(address)


@dataclass(frozen=True, slots=True)
class AdmissionSettings:
    # Handshakes one source address may start per second on average, and at once.
    per_source_rate: float = 10.0
    per_source_burst: int = 50
    # Handshakes in progress (read, being checked, or waiting for the CSMS) at most.
    max_in_progress: int = 100


class HandshakeAdmission:
    def __init__(self, settings: AdmissionSettings) -> None:
        self._settings = settings
        self._sources: OrderedDict[str, FrameBudget] = OrderedDict()
        self.in_progress = 0

    def begin(self, source: str, now: float) -> str | None:
        """Start a handshake from `source`: None if admitted (then call `end`), or the reason."""
        settings = self._settings
        key = rate_key(source)
        budget = self._sources.get(key)
        if budget is None:
            budget = FrameBudget(settings.per_source_rate, settings.per_source_burst, now)
            self._sources[key] = budget
            if len(self._sources) > MAX_TRACKED_SOURCES:
                self._sources.popitem(last=False)
        self._sources.move_to_end(key)
        if not budget.try_take(now):
            return "source_rate"
        if self.in_progress >= settings.max_in_progress:
            return "handshakes_in_progress"
        self.in_progress += 1
        return None

    def end(self) -> None:
        self.in_progress -= 1
