"""Salted hashes of the credentials the CSMS accepted: admission while the CSMS is down.

Never the Authorization header itself: a stolen journal gives only scrypt digests. The table is
mirrored in memory, so a connection checks and refreshes a charger's credentials without a read.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Collection
from typing import NamedTuple

from router.journal_connection import JournalConnection, Statement

# scrypt at the interactive-login cost: slow enough to make a stolen file expensive to brute-force,
# ~16 MiB and tens of milliseconds per check.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_DIGEST_BYTES = 32
_SALT_BYTES = 16
# Chargers whose credentials are remembered, far above any garage's: beyond, those used longest
# ago are forgotten, so identities made up by a flood cannot grow the file for ever.
MAX_CREDENTIALS = 10_000


class _StoredCredentials(NamedTuple):
    salt: bytes
    digest: bytes | None  # None: the CSMS accepted the charger without credentials
    subprotocol: str


class CredentialStore(JournalConnection):
    _max_credentials: int
    # The credentials table, mirrored: a connection checks and refreshes them without a read.
    _credentials: dict[str, _StoredCredentials]

    async def remember_credentials(
        self,
        identity: str,
        authorization: str | None,
        subprotocol: str,
        keep: Collection[str] = (),
    ) -> None:
        """Keep a salted hash of the Authorization header the CSMS accepted, never the header.

        Beyond `max_credentials` chargers, those whose credentials were used longest ago are
        forgotten, except the ones in `keep` (the chargers connected now)."""
        # The hash runs outside the lock: it is slow on purpose and must not stall other writers.
        stored = self._credentials.get(identity)
        if stored is not None and await _credentials_match(stored, authorization):
            self._credentials[identity] = stored._replace(subprotocol=subprotocol)
            await self._write(
                (
                    "UPDATE credentials SET subprotocol = ?, used_at = ? WHERE identity = ?",
                    (subprotocol, time.time(), identity),
                )
            )
            return
        salt = secrets.token_bytes(_SALT_BYTES)
        digest = (
            None
            if authorization is None
            else await asyncio.to_thread(_credential_digest, salt, authorization)
        )
        self._credentials[identity] = _StoredCredentials(salt, digest, subprotocol)
        insert: Statement = (
            "INSERT OR REPLACE INTO credentials (identity, salt, digest, subprotocol, used_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (identity, salt, digest, subprotocol, time.time()),
        )
        if len(self._credentials) <= self._max_credentials:
            await self._write(insert)
            return
        # Sorting the whole table is paid only by the charger that crosses the bound.
        forgotten = await self._write(
            insert,
            (
                """DELETE FROM credentials WHERE identity IN (
                    SELECT identity FROM credentials ORDER BY used_at DESC LIMIT -1 OFFSET ?)
                AND identity NOT IN (SELECT value FROM json_each(?)) RETURNING identity""",
                (self._max_credentials, json.dumps(sorted(keep))),
            ),
        )
        for (name,) in forgotten:
            self._credentials.pop(str(name), None)

    async def admit(self, identity: str, authorization: str | None) -> str | None:
        """The subprotocol the CSMS accepted if these credentials match its last acceptance."""
        stored = self._credentials.get(identity)
        if stored is None or not await _credentials_match(stored, authorization):
            return None
        await self._write(
            ("UPDATE credentials SET used_at = ? WHERE identity = ?", (time.time(), identity))
        )
        return stored.subprotocol

    async def _load_credentials(self) -> None:
        rows = await self._read("SELECT identity, salt, digest, subprotocol FROM credentials")
        self._credentials = {
            str(identity): _StoredCredentials(
                bytes(salt), None if digest is None else bytes(digest), str(subprotocol)
            )
            for identity, salt, digest, subprotocol in rows
        }


def _credential_digest(salt: bytes, authorization: str) -> bytes:
    return hashlib.scrypt(
        authorization.encode(),
        salt=salt,
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        dklen=_DIGEST_BYTES,
    )


async def _credentials_match(stored: _StoredCredentials, authorization: str | None) -> bool:
    if stored.digest is None or authorization is None:
        # No credentials only matches no credentials.
        return stored.digest is None and authorization is None
    candidate = await asyncio.to_thread(_credential_digest, stored.salt, authorization)
    return hmac.compare_digest(candidate, stored.digest)
