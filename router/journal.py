"""Durable memory of the `hold` policy (Part 4 §6.3, errata 2025-02): one SQLite file.

While the CSMS is unreachable the LC answers chargers itself. Everything it must not forget
meanwhile lives here: the outbox of transaction-related requests to replay in original order, the
provisional 1.6 transaction ids it handed out, the CSMS answers it reuses (authorizations, boot
intervals), the latest StatusNotification per connector, and salted hashes of the credentials the
CSMS accepted (admission while it is down).

Every write is committed with fsync (WAL, synchronous=FULL) before the method returns: once the
LC answers a charger, what it journaled survives a kill -9 or a power cut. Writes that arrive
while one commits wait and then commit together, one fsync for all of them (a group commit):
a thousand chargers connecting at once, or replaying at once, share a few fsyncs instead of
queueing for thousands.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from router import journal_bounds
from router.journal_bounds import JournalLimits, NewEntry
from router.local_answers import BootAnswer

log = logging.getLogger(__name__)

SCHEMA_VERSION = 6

# One entry per schema version, applied in order from the file's `PRAGMA user_version`.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # Counters never go back, so sequence numbers and provisional ids are never reused,
        # even after every entry carrying them was acknowledged or forgotten.
        """CREATE TABLE counters (
            identity TEXT NOT NULL,
            name TEXT NOT NULL,
            last INTEGER NOT NULL,
            PRIMARY KEY (identity, name)
        ) WITHOUT ROWID""",
        """CREATE TABLE outbox (
            identity TEXT NOT NULL,
            seq INTEGER NOT NULL,
            text TEXT NOT NULL,
            appended_at REAL NOT NULL,
            provisional_transaction_id INTEGER,
            PRIMARY KEY (identity, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE transactions (
            identity TEXT NOT NULL,
            provisional INTEGER NOT NULL,
            csms_id INTEGER NOT NULL,
            PRIMARY KEY (identity, provisional)
        ) WITHOUT ROWID""",
        """CREATE TABLE authorizations (
            scope TEXT NOT NULL,
            id_token TEXT NOT NULL,
            info TEXT NOT NULL,
            expires_at REAL,
            PRIMARY KEY (scope, id_token)
        ) WITHOUT ROWID""",
        """CREATE TABLE boots (
            identity TEXT PRIMARY KEY,
            interval_s INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE statuses (
            identity TEXT NOT NULL,
            connector_key TEXT NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (identity, connector_key)
        ) WITHOUT ROWID""",
        # digest NULL: the CSMS accepted this charger without an Authorization header.
        """CREATE TABLE credentials (
            identity TEXT PRIMARY KEY,
            salt BLOB NOT NULL,
            digest BLOB,
            subprotocol TEXT NOT NULL
        ) WITHOUT ROWID""",
    ),
    (
        # A frame that was on its way to the CSMS when the link went is replayed byte for byte.
        "ALTER TABLE outbox ADD COLUMN sent_before INTEGER NOT NULL DEFAULT 0",
        # Transactions the CSMS refused on replay that the LC has yet to stop at the charger;
        # transaction_id is JSON (1.6 int, 2.0.1 string), evse_id NULL when unknown.
        """CREATE TABLE refusals (
            identity TEXT NOT NULL,
            transaction_id TEXT NOT NULL,
            evse_id INTEGER,
            PRIMARY KEY (identity, transaction_id)
        ) WITHOUT ROWID""",
    ),
    (
        # When the CSMS last accepted a charger's credentials, or they last admitted it: the
        # credentials used longest ago go first when there are too many.
        "ALTER TABLE credentials ADD COLUMN used_at REAL NOT NULL DEFAULT 0",
    ),
    (
        # How to dial the CSMS for a charger whose backlog waits while it is not connected:
        # kept only while that charger has a backlog. sealed_authorization is its
        # Authorization header encrypted (keep_credentials); authorized says it had one.
        """CREATE TABLE handshakes (
            identity TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            subprotocol TEXT NOT NULL,
            authorized INTEGER NOT NULL,
            sealed_authorization BLOB
        ) WITHOUT ROWID""",
    ),
    (
        # The CSMS's last BootNotification answer is repeated offline, Pending/Rejected too.
        "ALTER TABLE boots ADD COLUMN status TEXT NOT NULL DEFAULT 'Accepted'",
    ),
    (
        # Bounds (router/journal_bounds.py): periodic meter values may be dropped at the limits,
        # except the latest of the transaction meter_of names (NULL: one the LC never saw).
        "ALTER TABLE outbox ADD COLUMN periodic INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE outbox ADD COLUMN meter_of TEXT",
        "CREATE INDEX outbox_periodic ON outbox (periodic, appended_at)",
        "CREATE INDEX outbox_meter_of ON outbox (identity, meter_of, seq)",
        # Bytes per charger, kept by triggers so every writer (the LC, `journal drop`) agrees.
        """CREATE TABLE outbox_sizes (
            identity TEXT PRIMARY KEY,
            bytes INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """INSERT INTO outbox_sizes (identity, bytes)
        SELECT identity, SUM(LENGTH(CAST(text AS BLOB))) FROM outbox GROUP BY identity""",
        """CREATE TRIGGER outbox_added AFTER INSERT ON outbox BEGIN
            INSERT INTO outbox_sizes (identity, bytes)
            VALUES (NEW.identity, LENGTH(CAST(NEW.text AS BLOB)))
            ON CONFLICT (identity) DO UPDATE SET bytes = bytes + excluded.bytes;
        END""",
        """CREATE TRIGGER outbox_removed AFTER DELETE ON outbox BEGIN
            UPDATE outbox_sizes SET bytes = bytes - LENGTH(CAST(OLD.text AS BLOB))
            WHERE identity = OLD.identity;
        END""",
        """CREATE TRIGGER outbox_rewritten AFTER UPDATE OF text ON outbox BEGIN
            UPDATE outbox_sizes
            SET bytes = bytes - LENGTH(CAST(OLD.text AS BLOB)) + LENGTH(CAST(NEW.text AS BLOB))
            WHERE identity = NEW.identity;
        END""",
    ),
)

_OUTBOX = "outbox"
_DROP_BATCH = 1000
_PROVISIONAL_TRANSACTION = "provisional_transaction"

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

# A charger's rows in these tables are read when it connects; only this LC adds any.
_PER_CHARGER_TABLES = ("outbox", "statuses", "refusals", "transactions")
# Writes committed in one transaction at most: bounds how long one group holds the file.
_MAX_GROUP = 500

_Statement = tuple[str, Sequence[object]]
_Work = Callable[[sqlite3.Connection], Any]  # runs in the journal's thread
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _QueuedWrite:
    work: _Work
    done: asyncio.Future[Any]


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    text: str
    appended_at: float
    # The 1.6 provisional id the LC answered a journaled StartTransaction with: the request frame
    # does not carry it, and the replayer needs it to map the CSMS's id after a restart.
    provisional_transaction_id: int | None = None
    # The CSMS may already hold this exact frame; see router.outputs.JournalAppend.
    sent_before: bool = False


class _StoredCredentials(NamedTuple):
    salt: bytes
    digest: bytes | None  # None: the CSMS accepted the charger without credentials
    subprotocol: str


@dataclass(frozen=True)
class StoredHandshake:
    """What the LC needs to dial the CSMS for a charger that is not connected."""

    path: str
    subprotocol: str
    authorized: bool  # the charger's handshake carried an Authorization header
    # That header encrypted at rest (router/sealed_credentials.py), only with keep_credentials.
    sealed_authorization: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class BacklogSummary:
    count: int
    oldest: float  # appended_at of the oldest entry
    size_bytes: int  # the frames' text, UTF-8


@dataclass(frozen=True)
class Appended:
    seq: int
    shed: int  # periodic meter values dropped to make room (router/journal_bounds.py)


class JournalError(RuntimeError):
    pass


class JournalFull(JournalError):
    """An entry was not journaled: the journal is at its bounds, or the disk is full."""

    def __init__(self, reason: str, shed: int) -> None:
        super().__init__(f"journal full ({reason})")
        self.reason = reason  # "limit" or "disk_full"
        self.shed = shed  # meter values dropped while trying to make room


class Journal:
    def __init__(
        self,
        db: sqlite3.Connection,
        thread: ThreadPoolExecutor,
        limits: JournalLimits,
        max_credentials: int = MAX_CREDENTIALS,
    ) -> None:
        self._db = db
        # The connection's one thread: SQLite's calls (and fsyncs) never block the event loop,
        # and a whole group commit is one trip to it.
        self._thread = thread
        self._limits = limits
        self._max_credentials = max_credentials
        # The lock keeps each transaction (and each read) from interleaving with another
        # task's statements.
        self._lock = asyncio.Lock()
        self._queued: list[_QueuedWrite] = []  # writes waiting for the next group commit
        self._unawaited: set[asyncio.Task[Any]] = set()  # commits nobody waits for
        # The boot answers as stored: an unchanged answer (every reconnect) is not written again.
        self._stored_boots: dict[str, BootAnswer] = {}
        # Per table of _PER_CHARGER_TABLES, the chargers that may have rows there: a charger
        # with none (most, at most connects) is not read for them. Rows deleted meanwhile (by
        # this LC or `journal drop`) only cost a read that finds nothing.
        self._may_have: dict[str, set[str]] = {table: set() for table in _PER_CHARGER_TABLES}
        # The credentials table, mirrored: a connection checks and refreshes them without
        # a read.
        self._credentials: dict[str, _StoredCredentials] = {}

    @classmethod
    async def open(
        cls,
        path: Path,
        limits: JournalLimits | None = None,
        max_credentials: int = MAX_CREDENTIALS,
    ) -> Journal:
        _create_private(path)
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT) in _commit.
        connect = partial(sqlite3.connect, path, isolation_level=None)
        try:
            db = await asyncio.get_running_loop().run_in_executor(thread, connect)
        except BaseException:
            thread.shutdown(wait=False)
            raise
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
        await asyncio.gather(*self._unawaited, return_exceptions=True)
        async with self._lock:
            await self._in_thread(self._db.close)
        self._thread.shutdown(wait=False)

    # --- outbox -------------------------------------------------------------------------------

    async def append(
        self,
        identity: str,
        text: str,
        *,
        provisional_transaction_id: int | None = None,
        sent_before: bool = False,
        handshake: StoredHandshake | None = None,
        periodic: bool = False,
        transaction: str | None = None,
    ) -> Appended:
        """Store a request frame to replay, within the journal's bounds; committed on return.

        `handshake` is kept with the backlog, so it can be delivered without the charger.
        `periodic`: a periodic meter value, of the seen `transaction` (router/journal_bounds.py).
        Raises JournalFull when the entry cannot be stored (the bounds, or a full disk).
        """
        entry = NewEntry(identity, len(text.encode()), periodic, transaction)
        self._may_have[_OUTBOX].add(identity)
        statements = [*_stored_handshake(identity, handshake), _next_counter(identity, _OUTBOX)]
        statements.append(
            (
                """INSERT INTO outbox (identity, seq, text, appended_at,
                    provisional_transaction_id, sent_before, periodic, meter_of)
                SELECT ?, last, ?, ?, ?, ?, ?, ? FROM counters WHERE identity = ? AND name = ?
                RETURNING seq""",
                (
                    identity,
                    text,
                    time.time(),
                    provisional_transaction_id,
                    int(sent_before),
                    int(periodic),
                    transaction if periodic else None,
                    identity,
                    _OUTBOX,
                ),
            )
        )
        insert = partial(self._append_within_bounds, entry, statements)
        shed_for_disk = 0
        try:
            seq, shed = await self._run(insert)
        except sqlite3.OperationalError as exc:
            if not disk_full(exc):
                raise
            # The disk is full: SQLite rolled the entry back, the LC goes on. Free pages by
            # dropping meter values, then try once more.
            shed_for_disk = await self._run(partial(journal_bounds.shed_for_disk, entry=entry))
            try:
                seq, shed = await self._run(insert)
            except sqlite3.OperationalError as again:
                if disk_full(again):
                    raise JournalFull("disk_full", shed_for_disk) from again
                raise
        if seq is None:
            raise JournalFull("limit", shed + shed_for_disk)
        return Appended(seq, shed + shed_for_disk)

    def _append_within_bounds(
        self, entry: NewEntry, statements: Sequence[_Statement], db: sqlite3.Connection
    ) -> tuple[int | None, int]:
        """(the new entry's seq, or None when it does not fit; meter values shed)."""
        shed, fits = journal_bounds.make_room(db, self._limits, entry, time.time())
        if not fits:
            return None, shed  # committed all the same: what was shed stays shed
        rows = _execute_all(statements, db)
        return int(rows[0][0]), shed

    async def pending(self, identity: str) -> list[JournalEntry]:
        if identity not in self._may_have[_OUTBOX]:
            return []
        rows = await self._read(
            """SELECT seq, text, appended_at, provisional_transaction_id, sent_before FROM outbox
            WHERE identity = ? ORDER BY seq""",
            (identity,),
        )
        return [
            JournalEntry(int(seq), str(text), float(at), pid, bool(sent))
            for seq, text, at, pid, sent in rows
        ]

    async def acknowledge(self, identity: str, seq: int) -> None:
        """The CSMS answered entry `seq`: drop it (acknowledging it twice is harmless).

        With the last entry goes the charger's stored handshake (and credentials).
        """
        await self._write(*_acknowledgement(identity, seq))

    def acknowledge_soon(self, identity: str, seq: int) -> None:
        """`acknowledge`, without waiting for the commit: a replay goes on to the next entry
        meanwhile, and its acknowledgements commit many at a time. Writes queued after it
        commit with it or after it; a crash before it commits only delivers that entry once
        more (at-least-once, byte for byte), never loses or reorders one."""
        queued = self._enqueue(partial(_execute_all, _acknowledgement(identity, seq)))
        commit = asyncio.ensure_future(self._commit_queued(queued))
        self._unawaited.add(commit)
        commit.add_done_callback(self._unawaited_committed)

    def _unawaited_committed(self, commit: asyncio.Task[Any]) -> None:
        self._unawaited.discard(commit)
        if not commit.cancelled() and (exc := commit.exception()) is not None:
            log.warning("an acknowledgement was not journaled (%s): its entry goes again", exc)

    async def drop(self, identity: str, seqs: Sequence[int]) -> int:
        """Forget these entries of a charger's backlog (a site manager's decision, after
        exporting them); returns how many were still there. Entries journaled after the export
        stay. With the last entry go the charger's stored handshake and statuses."""
        dropped = 0
        # Short transactions: a running LC waits for the write lock only briefly.
        for start in range(0, len(seqs), _DROP_BATCH):
            batch = json.dumps(list(seqs[start : start + _DROP_BATCH]))
            rows = await self._write(
                (
                    """DELETE FROM outbox WHERE identity = ?
                    AND seq IN (SELECT value FROM json_each(?)) RETURNING seq""",
                    (identity, batch),
                )
            )
            dropped += len(rows)
        await self._write(
            _forget_handshake_without_backlog(identity),
            (
                """DELETE FROM statuses WHERE identity = ?
                AND NOT EXISTS (SELECT 1 FROM outbox WHERE identity = ?)""",
                (identity, identity),
            ),
        )
        return dropped

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

    async def replace_text(self, identity: str, seq: int, text: str) -> None:
        """Rewrite a pending entry; KeyError if it is not pending (acknowledged, never stored)."""
        rows = await self._write(
            (
                "UPDATE outbox SET text = ? WHERE identity = ? AND seq = ? RETURNING seq",
                (text, identity, seq),
            )
        )
        if not rows:
            raise KeyError(f"no pending journal entry {seq} for {identity!r}")

    async def backlog(self) -> dict[str, tuple[int, float]]:
        """Per charger: number of pending entries and the oldest one's appended_at."""
        rows = await self._read(
            "SELECT identity, COUNT(*), MIN(appended_at) FROM outbox GROUP BY identity"
        )
        return {str(identity): (int(count), float(oldest)) for identity, count, oldest in rows}

    async def backlog_summaries(self) -> dict[str, BacklogSummary]:
        """Per charger with a backlog: its entries, the oldest one's time and their size."""
        rows = await self._read(
            """SELECT identity, COUNT(*), MIN(appended_at), SUM(LENGTH(CAST(text AS BLOB)))
            FROM outbox GROUP BY identity ORDER BY identity"""
        )
        return {
            str(identity): BacklogSummary(int(count), float(oldest), int(size))
            for identity, count, oldest, size in rows
        }

    async def oldest_entries(self) -> dict[str, float]:
        """Per charger with a backlog: its oldest entry's appended_at. Cheap enough to ask often:
        one index lookup per charger, where backlog() reads every entry."""
        rows = await self._read(
            """SELECT identity, (SELECT appended_at FROM outbox
                WHERE outbox.identity = outbox_sizes.identity ORDER BY seq LIMIT 1) AS oldest
            FROM outbox_sizes WHERE oldest IS NOT NULL ORDER BY identity"""
        )
        return {str(identity): float(oldest) for identity, oldest in rows}

    async def identities_with_backlog(self) -> list[str]:
        rows = await self._read("SELECT DISTINCT identity FROM outbox ORDER BY identity")
        return [str(identity) for (identity,) in rows]

    # --- 1.6 transaction ids ------------------------------------------------------------------

    async def next_provisional_transaction_id(self, identity: str) -> int:
        """-1, -2, ... per charger: negative, so never equal to a CSMS's (positive) id."""
        (provisional,) = await self.next_provisional_transaction_ids(identity, 1)
        return provisional

    async def next_provisional_transaction_ids(self, identity: str, count: int) -> list[int]:
        """The next `count` provisional ids of a charger, in order, in one write."""
        rows = await self._write(
            _next_counter(identity, _PROVISIONAL_TRANSACTION, step=count, returning=True)
        )
        last = int(rows[0][0])
        return [-value for value in range(last - count + 1, last + 1)]

    async def map_transaction(self, identity: str, provisional: int, csms_id: int) -> None:
        self._may_have["transactions"].add(identity)
        await self._write(
            (
                "INSERT OR REPLACE INTO transactions (identity, provisional, csms_id) "
                "VALUES (?, ?, ?)",
                (identity, provisional, csms_id),
            )
        )

    async def transaction_map(self, identity: str) -> dict[int, int]:
        """Provisional id -> the CSMS's id."""
        if identity not in self._may_have["transactions"]:
            return {}
        rows = await self._read(
            "SELECT provisional, csms_id FROM transactions WHERE identity = ?", (identity,)
        )
        return {int(provisional): int(csms_id) for provisional, csms_id in rows}

    async def forget_transaction(self, identity: str, provisional: int) -> None:
        await self._write(
            (
                "DELETE FROM transactions WHERE identity = ? AND provisional = ?",
                (identity, provisional),
            )
        )

    # --- authorization cache ------------------------------------------------------------------

    async def remember_authorization(
        self, scope: str, id_token: str, info: dict[str, Any], expires_at: float | None
    ) -> None:
        await self._write(
            (
                "INSERT OR REPLACE INTO authorizations (scope, id_token, info, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (scope, id_token, json.dumps(info), expires_at),
            )
        )

    async def authorizations(self, scope: str) -> dict[str, tuple[dict[str, Any], float | None]]:
        """id token -> (idTagInfo / idTokenInfo as the CSMS sent it, expiry or None)."""
        rows = await self._read(
            "SELECT id_token, info, expires_at FROM authorizations WHERE scope = ?", (scope,)
        )
        cache: dict[str, tuple[dict[str, Any], float | None]] = {}
        for id_token, info, expires_at in rows:
            decoded: dict[str, Any] = json.loads(info)
            cache[str(id_token)] = (decoded, None if expires_at is None else float(expires_at))
        return cache

    # --- boot answers ---------------------------------------------------------------------------

    async def remember_boot(self, identity: str, answer: BootAnswer) -> None:
        if self._stored_boots.get(identity) == answer:
            return
        await self._write(
            (
                "INSERT OR REPLACE INTO boots (identity, status, interval_s) VALUES (?, ?, ?)",
                (identity, answer.status, answer.interval_s),
            )
        )
        self._stored_boots[identity] = answer

    async def boots(self) -> dict[str, BootAnswer]:
        rows = await self._read("SELECT identity, status, interval_s FROM boots")
        stored = {
            str(identity): BootAnswer(str(status), int(interval_s))
            for identity, status, interval_s in rows
        }
        self._stored_boots = dict(stored)
        return stored

    # --- refused transactions still to act on -------------------------------------------------

    async def remember_refusal(
        self, identity: str, transaction_id: int | str, evse_id: int | None
    ) -> None:
        self._may_have["refusals"].add(identity)
        await self._write(
            (
                """INSERT OR REPLACE INTO refusals (identity, transaction_id, evse_id)
                VALUES (?, ?, ?)""",
                (identity, json.dumps(transaction_id), evse_id),
            )
        )

    async def refusals(self, identity: str) -> list[tuple[int | str, int | None]]:
        """(transaction id, EVSE or None) of each refused transaction not yet acted on."""
        if identity not in self._may_have["refusals"]:
            return []
        rows = await self._read(
            """SELECT transaction_id, evse_id FROM refusals WHERE identity = ?
            ORDER BY transaction_id""",
            (identity,),
        )
        return [(json.loads(transaction), evse) for transaction, evse in rows]

    async def forget_refusal(self, identity: str, transaction_id: int | str) -> None:
        await self._write(
            (
                "DELETE FROM refusals WHERE identity = ? AND transaction_id = ?",
                (identity, json.dumps(transaction_id)),
            )
        )

    # --- latest StatusNotification per connector ----------------------------------------------

    async def remember_status(self, identity: str, connector_key: str, text: str) -> None:
        self._may_have["statuses"].add(identity)
        await self._write(
            (
                "INSERT OR REPLACE INTO statuses (identity, connector_key, text) VALUES (?, ?, ?)",
                (identity, connector_key, text),
            )
        )

    async def statuses(self, identity: str) -> list[str]:
        """Frame texts ordered by connector key, numbers compared as numbers ("2" before "10")."""
        if identity not in self._may_have["statuses"]:
            return []
        rows = await self._read(
            "SELECT connector_key, text FROM statuses WHERE identity = ?", (identity,)
        )
        ordered = sorted(rows, key=lambda row: _connector_order(str(row[0])))
        return [str(text) for _, text in ordered]

    async def clear_statuses(self, identity: str) -> None:
        await self._write(("DELETE FROM statuses WHERE identity = ?", (identity,)))

    # --- credentials for admission while the CSMS is down -------------------------------------

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
        insert: _Statement = (
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

    async def _load_charger_index(self) -> None:
        for table, identities in self._may_have.items():
            rows = await self._read(f"SELECT DISTINCT identity FROM {table}")
            identities.update(str(identity) for (identity,) in rows)
        rows = await self._read("SELECT identity, salt, digest, subprotocol FROM credentials")
        self._credentials = {
            str(identity): _StoredCredentials(
                bytes(salt), None if digest is None else bytes(digest), str(subprotocol)
            )
            for identity, salt, digest, subprotocol in rows
        }

    # --- plumbing -----------------------------------------------------------------------------

    async def _configure(self) -> None:
        (mode,) = (await self._read("PRAGMA journal_mode = WAL"))[0]
        if str(mode).lower() != "wal":
            raise JournalError(f"cannot put the journal in WAL mode (got {mode!r})")
        # FULL: in WAL mode the log is fsynced at every commit, so committed means on disk.
        await self._read("PRAGMA synchronous = FULL")
        await self._read("PRAGMA busy_timeout = 5000")

    async def _migrate(self) -> None:
        (version,) = (await self._read("PRAGMA user_version"))[0]
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal schema version {version} is newer than this LC's ({SCHEMA_VERSION})"
            )
        for target in range(int(version) + 1, SCHEMA_VERSION + 1):
            statements: list[_Statement] = [(sql, ()) for sql in _MIGRATIONS[target - 1]]
            # user_version is written in the same transaction: a crash leaves the old or new
            # schema, never half of one.
            statements.append((f"PRAGMA user_version = {target}", ()))
            await self._write(*statements)

    async def _read(self, sql: str, parameters: Sequence[object] = ()) -> list[sqlite3.Row]:
        # Under the lock so a read never sees another task's uncommitted writes.
        async with self._lock:
            return await self._in_thread(partial(_fetch_all, self._db, sql, parameters))

    async def _in_thread(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    async def _write(self, *statements: _Statement) -> list[sqlite3.Row]:
        """Run the statements in one transaction, committed when this returns; last one's rows."""
        return await self._run(partial(_execute_all, statements))

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on the connection, committed when this returns; its effects all or none."""
        queued = self._enqueue(work)
        # Shielded: a caller cancelled mid-way (charger gone) must not leave the shared connection
        # inside an open transaction; the write completes or rolls back on its own.
        result: T = await asyncio.shield(self._commit_queued(queued))
        return result

    def _enqueue(self, work: _Work) -> _QueuedWrite:
        queued = _QueuedWrite(work, asyncio.get_running_loop().create_future())
        self._queued.append(queued)
        return queued

    async def _commit_queued(self, queued: _QueuedWrite) -> Any:
        """Commit the writes queued so far, `queued` among them, unless a group before did."""
        async with self._lock:
            while not queued.done.done():
                group, self._queued = self._queued[:_MAX_GROUP], self._queued[_MAX_GROUP:]
                await self._commit_group(group)
        return queued.done.result()

    async def _commit_group(self, group: list[_QueuedWrite]) -> None:
        try:
            works = [queued.work for queued in group]
            results = await self._in_thread(partial(_commit, self._db, works))
        except Exception as exc:
            if len(group) == 1:
                group[0].done.set_exception(exc)
                return
            # One write failed (a full disk, a bug) and took the group down with it: each
            # write again on its own, so it fails or succeeds as if it had come alone.
            for queued in group:
                await self._commit_group([queued])
            return
        except BaseException as exc:  # cancelled while the LC stops: committed or not, unknown
            for queued in group:
                queued.done.set_exception(exc)
            raise
        for queued, result in zip(group, results, strict=True):
            queued.done.set_result(result)


def _commit(db: sqlite3.Connection, works: Sequence[_Work]) -> list[Any]:
    """Run the works in one transaction and commit it (in the journal's thread)."""
    # IMMEDIATE takes the write lock up front instead of failing at the first write.
    db.execute("BEGIN IMMEDIATE")
    try:
        results = [work(db) for work in works]
        db.execute("COMMIT")
    except BaseException:
        # SQLite may already have rolled back by itself (e.g. disk full).
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    return results


def _fetch_all(db: sqlite3.Connection, sql: str, parameters: Sequence[object]) -> list[Any]:
    return db.execute(sql, parameters).fetchall()


def _execute_all(statements: Sequence[_Statement], db: sqlite3.Connection) -> list[Any]:
    rows: list[Any] = []
    for sql, parameters in statements:
        rows = db.execute(sql, parameters).fetchall()
    return rows


def _stored_handshake(identity: str, handshake: StoredHandshake | None) -> list[_Statement]:
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


def disk_full(error: sqlite3.Error) -> bool:
    """SQLite's "database or disk is full" (SQLITE_FULL)."""
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def _acknowledgement(identity: str, seq: int) -> list[_Statement]:
    """Drop entry `seq`; with the last entry goes the charger's stored handshake."""
    return [
        ("DELETE FROM outbox WHERE identity = ? AND seq = ?", (identity, seq)),
        _forget_handshake_without_backlog(identity),
    ]


def _forget_handshake_without_backlog(identity: str) -> _Statement:
    return (
        """DELETE FROM handshakes WHERE identity = ?
        AND NOT EXISTS (SELECT 1 FROM outbox WHERE identity = ?)""",
        (identity, identity),
    )


def _next_counter(
    identity: str, name: str, *, step: int = 1, returning: bool = False
) -> _Statement:
    sql = """INSERT INTO counters (identity, name, last) VALUES (?, ?, ?)
        ON CONFLICT (identity, name) DO UPDATE SET last = last + excluded.last"""
    return (sql + " RETURNING last" if returning else sql), (identity, name, step)


def _connector_order(connector_key: str) -> tuple[tuple[int, int | str], ...]:
    # "1", "2", "10", "1/2": digit runs compare as numbers, the rest as text.
    return tuple(
        (0, int(part)) if part.isdecimal() else (1, part)  # isdigit takes '²'
        for part in re.split(r"(\d+)", connector_key)
        if part
    )


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


def _create_private(path: Path) -> None:
    # The file holds credential hashes: owner-only from the start (SQLite gives its -wal and -shm
    # files the database file's permissions).
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
