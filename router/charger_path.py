"""What a charger's handshake path says: the path to dial the CSMS at, and who the charger is.

The CSMS must see exactly the path the charger sent (Part 4 §6.2), so the path is never
normalised: a path that a URL library would change on the way is refused instead. A `..`
segment would otherwise take a charger out of its tenant's base path at the CSMS, and an
encoded separator would put a `/` or `\\` into an identity. The identity is the last segment,
percent-decoded once, and must be an identity OCPP accepts (ocpp_knowledge/identity.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from ocpp_knowledge.identity import BadIdentity, check_identity

_ENCODED_SEPARATOR = re.compile("%(2f|5c)", re.IGNORECASE)
_DOT_SEGMENTS = (".", "..")


class BadChargerPath(ValueError):
    """A path or identity the LC refuses with 400; `reason` labels the refusal metric."""

    def __init__(self, reason: str, problem: str) -> None:
        super().__init__(problem)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ChargerPath:
    path: str  # as the charger sent it (without a query), for the CSMS
    identity: str  # its last segment, percent-decoded once


def parse_charger_path(target: str) -> ChargerPath:
    """The path and identity of an HTTP request target (RFC 9112 origin-form), as sent."""
    path = target.partition("?")[0]
    if not path.startswith("/"):
        raise BadChargerPath("bad_path", "the path must start with /")
    if _ENCODED_SEPARATOR.search(path) or "\\" in path:
        raise BadChargerPath("bad_path", "an encoded / or a \\ in the path")
    segments = path.split("/")
    # Percent-decoded too: %2E%2E is a dot segment to a URL library (RFC 3986 §6.2.2.2).
    if any(unquote(segment) in _DOT_SEGMENTS for segment in segments):
        raise BadChargerPath("bad_path", "a . or .. segment in the path")
    encoded = path.rstrip("/").rsplit("/", 1)[-1]
    try:
        identity = unquote(encoded, encoding="ascii", errors="strict")
    except UnicodeDecodeError:
        raise BadChargerPath("bad_identity", "the identity is not ASCII") from None
    try:
        check_identity(identity)
    except BadIdentity as bad:
        raise BadChargerPath("bad_identity", str(bad)) from None
    return ChargerPath(path, identity)
