"""Charger credentials kept encrypted at rest (`[router.offline] keep_credentials`).

A Basic-auth charger's Authorization header lives only in memory, so after an LC restart its
backlog could reach the CSMS only once that charger reconnects. With keep_credentials the
header is stored beside the backlog, sealed with AES-256-GCM under a key file that only the
LC's user may read, and deleted with the backlog's last entry. The charger's identity is bound
in as associated data: a sealed header copied to another charger's row does not open.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_NONCE_BYTES = 12


class CredentialKeyError(ValueError):
    """The key file is missing, unreadable, of the wrong size or readable by others."""


def read_key(path: Path) -> bytes:
    """The key in `path`: 32 random bytes, in a file neither group nor others can read."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CredentialKeyError(
                f"{path} is open to group or others (mode {stat.S_IMODE(mode):03o}): "
                f"chmod 600 it, readable by the LC's user only"
            )
        key = path.read_bytes()
    except OSError as exc:
        raise CredentialKeyError(f"cannot read {path}: {exc.strerror}") from exc
    if len(key) != KEY_BYTES:
        raise CredentialKeyError(
            f"{path} holds {len(key)} bytes, expected {KEY_BYTES} random bytes "
            f"(head -c {KEY_BYTES} /dev/urandom)"
        )
    return key


class CredentialSealer:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "CredentialSealer(<key not shown>)"

    def seal(self, identity: str, authorization: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, authorization.encode(), identity.encode())

    def open(self, identity: str, sealed: bytes) -> str | None:
        """The header, or None when it was sealed under another key or for another charger."""
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, ciphertext, identity.encode()).decode()
        except (InvalidTag, ValueError):
            return None
