"""TLS handshakes that fail for a reason the security log names (A04): a certificate that
does not verify, a TLS version below 1.2 (A00.FR.313), no cipher suite of the spec's
(A00.FR.318). Other failures (a peer that hangs up) are no security event."""

from __future__ import annotations

import ssl

from ocpp_knowledge.security_events import RecordSecurityEvent

# OpenSSL's reasons, as `ssl.SSLError.reason` gives them, on either side of the handshake.
_VERSION_REASONS = frozenset(
    {"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "WRONG_SSL_VERSION"}
)
_CIPHER_REASONS = frozenset(
    {"NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE", "SSLV3_ALERT_HANDSHAKE_FAILURE"}
)
_CERTIFICATE_REASONS = frozenset({"CERTIFICATE_VERIFY_FAILED", "PEER_DID_NOT_RETURN_A_CERTIFICATE"})


def tls_security_event(error: ssl.SSLError, certificate_event: str) -> str | None:
    """The event type of a failed handshake; `certificate_event` when the peer's certificate
    was the problem (InvalidChargingStationCertificate or InvalidCsmsCertificate)."""
    reason = error.reason or ""
    if isinstance(error, ssl.SSLCertVerificationError) or reason in _CERTIFICATE_REASONS:
        return certificate_event
    if reason in _VERSION_REASONS:
        return "InvalidTLSVersion"
    if reason in _CIPHER_REASONS:
        return "InvalidTLSCipherSuite"
    return None


def record_charger_handshake_failures(context: ssl.SSLContext, record: RecordSecurityEvent) -> None:
    """Chargers' handshakes on `context` that fail for a certificate, a version or a suite
    become security events.

    OpenSSL reports the failure in the handshake step of the TLS object, which asyncio and
    uvloop alike create from the context's `sslobject_class`; they swallow the error after it.
    """

    class ReportingSSLObject(ssl.SSLObject):
        def do_handshake(self) -> None:
            try:
                super().do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise
            except ssl.SSLError as error:
                event = tls_security_event(error, "InvalidChargingStationCertificate")
                if event is not None:
                    detail = getattr(error, "verify_message", None) or error.reason
                    record(event, f"a charger's TLS handshake failed: {detail}")
                raise

    context.sslobject_class = ReportingSSLObject
