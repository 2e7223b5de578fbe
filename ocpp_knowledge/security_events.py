"""How a part of the LC reports one of its own security events (2.0.1 A04; the types are the
appendix's "Security events" list): `record(type, tech_info)`. The security log keeps every
event and pushes the critical ones to the CSMS with SecurityEventNotification."""

from __future__ import annotations

from collections.abc import Callable

RecordSecurityEvent = Callable[[str, str], None]
