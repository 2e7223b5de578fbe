"""Whether a charger is who its URL says (sans-I/O), as the CSMS the LC is towards chargers
(Part 4 §6.5): an allow-list of identities, the Basic-auth user (A00.FR.303) and, under
security profile 3, the certificate's CN (A00.FR.405) and O (A00.FR.404).

Checked before anything else: a refused charger must not replace the link of the charger it
claims to be, nor reach the CSMS with that charger's identity.
"""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass
from typing import Any

from router.settings import RouterSettings


@dataclass(frozen=True, slots=True)
class IdentityRefused:
    """How a charger's handshake is refused: the reason counted, the HTTP status, why."""

    reason: str
    status: int
    why: str
    headers: dict[str, str] | None = None


def identity_refusal(
    settings: RouterSettings,
    identity: str,
    authorization: str | None,
    peercert: dict[str, Any] | None,
) -> IdentityRefused | None:
    """The refusal for a charger that is not `identity`, or None to let it on. `peercert`: the
    verified certificate of its TLS connection, as `SSLSocket.getpeercert()` gives it."""
    allowed = settings.allowed_identities
    if allowed is not None and identity not in allowed:
        return IdentityRefused("not_allowed", 404, "not in allowed_identities")
    user = basic_auth_user(authorization)
    if user is not None and user != identity:
        # A00.FR.303. RFC 9110 asks a 401 to say which scheme to use.
        return IdentityRefused(
            "basic_auth_user",
            401,
            "the Basic-auth user is not the charger's identity",
            {"WWW-Authenticate": 'Basic realm="OCPP"'},
        )
    server_ssl = settings.server_ssl
    if server_ssl is None or server_ssl.verify_mode != ssl.CERT_REQUIRED:
        return None
    names = common_names(peercert)
    if names != [identity]:
        return IdentityRefused(
            "certificate_cn", 403, f"its certificate's CN is {', '.join(names) or 'missing'}"
        )
    operator = settings.charger_organization
    organizations = subject_attributes(peercert, "organizationName")
    if operator is not None and not any(operator in name for name in organizations):
        # A00.FR.404: the certificate is owned by the CSO (its O names the CSO).
        return IdentityRefused(
            "certificate_o",
            403,
            f"its certificate's O is {', '.join(organizations) or 'missing'}",
        )
    return None


def basic_auth_user(authorization: str | None) -> str | None:
    """The user of an `Authorization: Basic` header (RFC 7617), "" when it cannot be read, or
    None without one. Only the user is decoded: 1.6 passwords need not be UTF-8."""
    if authorization is None:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, _ = base64.b64decode(credentials.strip(), validate=True).partition(b":")
        return user.decode("utf-8") if colon else ""
    except ValueError:  # not base64 (binascii.Error), or a user that is not UTF-8
        return ""


def subject_attributes(peercert: dict[str, Any] | None, attribute: str) -> list[str]:
    """The values of one attribute (commonName, organizationName) in the subject of a
    certificate as `SSLSocket.getpeercert()` gives it."""
    subject = (peercert or {}).get("subject", ())
    return [value for rdn in subject for name, value in rdn if name == attribute]


def common_names(peercert: dict[str, Any] | None) -> list[str]:
    return subject_attributes(peercert, "commonName")
