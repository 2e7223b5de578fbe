"""Durable memory of the `hold` policy (Part 4 §6.3, errata 2025-02): one SQLite file.

While the CSMS is unreachable the LC answers chargers itself. Everything it must not forget
meanwhile lives here: the outbox of transaction-related requests to replay in original order
(router/journal_outbox.py) with how to dial for a charger that is absent
(router/journal_handshakes.py), the provisional 1.6 transaction ids it handed out, the CSMS
answers it reuses and the latest StatusNotification per connector
(router/journal_offline_state.py), and salted hashes of the credentials the CSMS accepted, for
admission while it is down (router/journal_credentials.py).

Every write is committed (fsync) before the method that makes it returns, writes that arrive
together sharing one commit (router/journal_connection.py); the tables and their migrations
are in router/journal_schema.py.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from router.journal_bounds import JournalLimits
from router.journal_connection import JournalError, Statement, disk_full, open_connection
from router.journal_credentials import MAX_CREDENTIALS, CredentialStore
from router.journal_handshakes import HandshakeStore, StoredHandshake
from router.journal_offline_state import OfflineStateStore
from router.journal_outbox import (
    OUTBOX,
    Appended,
    BacklogSummary,
    JournalEntry,
    JournalFull,
    OutboxStore,
)
from router.journal_schema import _MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "_MIGRATIONS",  # each version's statements, for opening journals older LCs left
    "Appended",
    "BacklogSummary",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalFull",
    "StoredHandshake",
    "disk_full",
]

# A charger's rows in these tables are read when it connects; only this LC adds any.
_PER_CHARGER_TABLES = (OUTBOX, "statuses", "refusals", "transactions")


class Journal(OutboxStore, HandshakeStore, OfflineStateStore, CredentialStore):
    def __init__(
        self,
        db: sqlite3.Connection,
        thread: ThreadPoolExecutor,
        limits: JournalLimits,
        max_credentials: int = MAX_CREDENTIALS,
    ) -> None:
        super().__init__(db, thread)
        self._limits = limits
        self._max_credentials = max_credentials
        self._stored_boots = {}
        # Per table of _PER_CHARGER_TABLES, the chargers that may have rows there: a charger
        # with none (most, at most connects) is not read for them. Rows deleted meanwhile (by
        # this LC or `journal drop`) only cost a read that finds nothing.
        self._may_have = {table: set() for table in _PER_CHARGER_TABLES}
        self._credentials = {}

    @classmethod
    async def open(
        cls,
        path: Path,
        limits: JournalLimits | None = None,
        max_credentials: int = MAX_CREDENTIALS,
    ) -> Journal:
        db, thread = await open_connection(path)
        journal = cls(db, thread, limits or JournalLimits(), max_credentials)
        try:
            await journal._configure()
            await journal._migrate()
            await journal._load_charger_index()
        except BaseException:
            await journal.close()
            raise
        return journal

    async def close(self) -> None:
        await self._close_connection()

    async def _migrate(self) -> None:
        (version,) = (await self._read("PRAGMA user_version"))[0]
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal schema version {version} is newer than this LC's ({SCHEMA_VERSION})"
            )
        for target in range(int(version) + 1, SCHEMA_VERSION + 1):
            statements: list[Statement] = [(sql, ()) for sql in _MIGRATIONS[target - 1]]
            # user_version is written in the same transaction: a crash leaves the old or new
            # schema, never half of one.
            statements.append((f"PRAGMA user_version = {target}", ()))
            await self._write(*statements)

    async def _load_charger_index(self) -> None:
        for table, identities in self._may_have.items():
            rows = await self._read(f"SELECT DISTINCT identity FROM {table}")
            identities.update(str(identity) for (identity,) in rows)
        await self._load_credentials()
