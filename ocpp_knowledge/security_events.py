"""How a part of the LC reports one of its own security events (2.0.1 A04; the types are the
appendix's "Security events" list): `record(type, tech_info)`. The security log keeps every
event and pushes the critical ones to the CSMS with SecurityEventNotification."""

from __future__ import annotations

from collections.abc import Callable

RecordSecurityEvent = Callable[[str, str], None]

# The appendix's list (2.0.1 Part 2 Appendices, "Security events"), and the errata's: type ->
# critical. A critical event is pushed to the CSMS (A04.FR.02); every event is kept in the
# security log.
SECURITY_EVENTS: dict[str, bool] = {
    "FirmwareUpdated": True,
    "FailedToAuthenticateAtCsms": False,
    "CsmsFailedToAuthenticate": False,
    "SettingSystemTime": True,
    "StartupOfTheDevice": True,
    "ResetOrReboot": True,
    "SecurityLogWasCleared": True,
    "ReconfigurationOfSecurityParameters": False,
    "MemoryExhaustion": True,
    "InvalidMessages": False,
    "AttemptedReplayAttacks": False,
    "TamperDetectionActivated": True,
    "InvalidFirmwareSignature": True,
    "InvalidFirmwareSigningCertificate": True,
    "InvalidCsmsCertificate": True,
    "InvalidChargingStationCertificate": True,
    "InvalidTLSVersion": True,
    "InvalidTLSCipherSuite": True,
    "MaintenanceLoginAccepted": True,
    "MaintenanceLoginFailed": True,
    # Not in the appendix: errata 2025-09 A02.FR.29 / A03.FR.25 has it sent to the CSMS.
    "DiscardedRenewedClientCertificate": True,
}

# The 1.6 security whitepaper (edition 3, §8) names four of these types otherwise; the rest
# are the same words. The LC keeps 2.0.1's names in its log and says 1.6's to a 1.6 CSMS.
V16_NAMES: dict[str, str] = {
    "FailedToAuthenticateAtCsms": "FailedToAuthenticationAtCentralSystem",
    "CsmsFailedToAuthenticate": "CentralSystemFailedToAuthentication",
    "InvalidCsmsCertificate": "InvalidCentralSystemCertificate",
    "InvalidChargingStationCertificate": "InvalidChargePointCertificate",
}

# SecurityEventNotificationRequest's field lengths (2.0.1 schema).
TYPE_LENGTH = 50
TECH_INFO_LENGTH = 255


def is_critical(event_type: str) -> bool:
    """Whether the CSMS hears of `event_type` at once. A type outside the appendix's list (a
    vendor's own) is kept in the log only."""
    return SECURITY_EVENTS.get(event_type, False)
