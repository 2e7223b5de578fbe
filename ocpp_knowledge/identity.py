"""What OCPP accepts as a charging station's identity (Part 4 §3.1.1).

The identity is an identifierString of at most 48 characters; it ends up in URL paths, in the
journal, in logs and in metric labels, so anything else is refused wherever it comes in.
"""

from __future__ import annotations

import re

MAX_IDENTITY_CHARS = 48
# Printable ASCII without the space (and, checked apart, without "/").
_IDENTITY = re.compile(r"[\x21-\x7e]+")


class BadIdentity(ValueError):
    """An identity that is not an identifierString the LC accepts; the message says why."""


def check_identity(identity: str) -> None:
    """Raise BadIdentity unless `identity` is an identifierString the LC accepts."""
    if not identity:
        raise BadIdentity("no identity at the end of the path")
    if len(identity) > MAX_IDENTITY_CHARS:
        raise BadIdentity(f"the identity is longer than {MAX_IDENTITY_CHARS} characters")
    if not _IDENTITY.fullmatch(identity) or "/" in identity:
        raise BadIdentity("the identity has a space, a / or a character that is not ASCII")
