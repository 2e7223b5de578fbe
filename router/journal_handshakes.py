"""How to dial the CSMS for a charger whose backlog waits while the charger is not connected.

Kept with the backlog (router/unattended_replay.py reads it) and only while there is one: the
handshake goes with the backlog's last entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from router.journal_connection import JournalConnection, Statement


@dataclass(frozen=True)
class StoredHandshake:
    """What the LC needs to dial the CSMS for a charger that is not connected."""

    path: str
    subprotocol: str
    authorized: bool  # the charger's handshake carried an Authorization header
    # That header encrypted at rest (router/sealed_credentials.py), only with keep_credentials.
    sealed_authorization: bytes | None = field(default=None, repr=False)


class HandshakeStore(JournalConnection):
    async def handshakes(self) -> dict[str, StoredHandshake]:
        """The stored handshake of every charger that has one (a backlog), in one read."""
        rows = await self._read(
            "SELECT identity, path, subprotocol, authorized, sealed_authorization FROM handshakes"
        )
        return {
            str(identity): StoredHandshake(
                str(path),
                str(subprotocol),
                bool(authorized),
                None if sealed is None else bytes(sealed),
            )
            for identity, path, subprotocol, authorized, sealed in rows
        }


def store_handshake(identity: str, handshake: StoredHandshake | None) -> list[Statement]:
    if handshake is None:
        return []
    return [
        (
            """INSERT OR REPLACE INTO handshakes
                (identity, path, subprotocol, authorized, sealed_authorization)
            VALUES (?, ?, ?, ?, ?)""",
            (
                identity,
                handshake.path,
                handshake.subprotocol,
                int(handshake.authorized),
                handshake.sealed_authorization,
            ),
        )
    ]


FORGET_HANDSHAKE_WITHOUT_BACKLOG = """DELETE FROM handshakes WHERE identity = ?
    AND NOT EXISTS (SELECT 1 FROM outbox WHERE identity = ?)"""


def forget_handshake_without_backlog(identity: str) -> Statement:
    return FORGET_HANDSHAKE_WITHOUT_BACKLOG, (identity, identity)
