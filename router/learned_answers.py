"""What the LC learns from the CSMS's answers while the CSMS is there (pure), to answer a
charger alike while it is gone (router/local_answers.py): the charger's BootNotification
answer, and what an id token is authorized for until when."""

from __future__ import annotations

from typing import Any

from ocpp_knowledge.ocpp_time import from_ocpp_time
from router.local_answers import BootAnswer

# The answers learned from.
LEARNED_FROM = frozenset({"BootNotification", "Authorize", "StartTransaction", "TransactionEvent"})

# The BootNotification answers a charger acts on (1.6 RegistrationStatus, 2.0.1 the same).
BOOT_STATUSES = ("Accepted", "Pending", "Rejected")


def boot_learned(action: str, response: dict[str, Any]) -> BootAnswer | None:
    """The BootNotification answer to repeat, when `response` is one a charger acts on."""
    status, interval = response.get("status"), response.get("interval")
    if (
        action == "BootNotification"
        and status in BOOT_STATUSES
        and isinstance(interval, int)
        and not isinstance(interval, bool)
    ):
        return BootAnswer(status, interval)
    return None


def authorization_learned(
    request: dict[str, Any], response: dict[str, Any]
) -> tuple[str, dict[str, Any], float | None] | None:
    """(id token, its IdTagInfo / IdTokenInfo, when that expires) from an answer that has one."""
    info = response.get("idTagInfo") or response.get("idTokenInfo")
    token_field = request.get("idTag") or request.get("idToken")
    token = token_field.get("idToken") if isinstance(token_field, dict) else token_field
    if isinstance(info, dict) and isinstance(token, str):
        return token, info, _expiry(info)
    return None


def _expiry(info: dict[str, Any]) -> float | None:
    expiry = info.get("expiryDate") or info.get("cacheExpiryDateTime")
    if not isinstance(expiry, str):
        return None
    try:
        return from_ocpp_time(expiry).timestamp()
    except ValueError:
        return None
