"""The backlog: each charger's requests to replay to the CSMS, in the order the charger sent them.

Appended within the journal's bounds (router/journal_bounds.py), read back in order for a
replay, and dropped once the CSMS answered them (acknowledged) or a site manager exported and
dropped them (`lc journal drop`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from router import journal_bounds
from router.journal_bounds import JournalLimits, NewEntry
from router.journal_connection import (
    JournalConnection,
    JournalError,
    Statement,
    disk_full,
    execute_all,
)
from router.journal_handshakes import (
    FORGET_HANDSHAKE_WITHOUT_BACKLOG,
    StoredHandshake,
    forget_handshake_without_backlog,
    store_handshake,
)

OUTBOX = "outbox"
_DROP_BATCH = 1000


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


@dataclass(frozen=True)
class BacklogSummary:
    count: int
    oldest: float  # appended_at of the oldest entry
    size_bytes: int  # the frames' text, UTF-8


@dataclass(frozen=True)
class Appended:
    seq: int
    shed: int  # periodic meter values dropped to make room (router/journal_bounds.py)


class JournalFull(JournalError):
    """An entry was not journaled: the journal is at its bounds, or the disk is full."""

    def __init__(self, reason: str, shed: int) -> None:
        super().__init__(f"journal full ({reason})")
        self.reason = reason  # "limit" or "disk_full"
        self.shed = shed  # meter values dropped while trying to make room


class OutboxStore(JournalConnection):
    _limits: JournalLimits
    # Per table, the chargers that may have rows there (see Journal).
    _may_have: dict[str, set[str]]

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
        self._may_have[OUTBOX].add(identity)
        statements = [*store_handshake(identity, handshake), next_counter(identity, OUTBOX)]
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
                    OUTBOX,
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
        self, entry: NewEntry, statements: Sequence[Statement], db: sqlite3.Connection
    ) -> tuple[int | None, int]:
        """(the new entry's seq, or None when it does not fit; meter values shed)."""
        shed, fits = journal_bounds.make_room(db, self._limits, entry, time.time())
        if not fits:
            return None, shed  # committed all the same: what was shed stays shed
        rows = execute_all(statements, db)
        return int(rows[0][0]), shed

    async def pending(self, identity: str) -> list[JournalEntry]:
        if identity not in self._may_have[OUTBOX]:
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
        await self._run(_Acknowledgements([(identity, seq)]))

    def acknowledge_soon(self, identity: str, seq: int) -> None:
        """`acknowledge`, without waiting for the commit: a replay goes on to the next entry
        meanwhile, and its acknowledgements commit many at a time. Writes queued after it
        commit with it or after it; a crash before it commits only delivers that entry once
        more (at-least-once, byte for byte), never loses or reorders one."""
        tail = self._queued[-1].work if self._queued else None
        if isinstance(tail, _Acknowledgements):
            # Not yet taken by a commit, and nothing queued after it: joining it keeps the order.
            tail.entries.append((identity, seq))
        else:
            self._write_soon(_Acknowledgements([(identity, seq)]))

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
            forget_handshake_without_backlog(identity),
            (
                """DELETE FROM statuses WHERE identity = ?
                AND NOT EXISTS (SELECT 1 FROM outbox WHERE identity = ?)""",
                (identity, identity),
            ),
        )
        return dropped

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


def next_counter(identity: str, name: str, *, step: int = 1, returning: bool = False) -> Statement:
    """Advance a charger's counter; counters never go back, so numbers are never reused."""
    sql = """INSERT INTO counters (identity, name, last) VALUES (?, ?, ?)
        ON CONFLICT (identity, name) DO UPDATE SET last = last + excluded.last"""
    return (sql + " RETURNING last" if returning else sql), (identity, name, step)


@dataclass(slots=True)
class _Acknowledgements:
    """Entries the CSMS answered: dropped, and with a charger's last entry its stored handshake.
    Acknowledgements queued one after the other join one batch, written by two statements."""

    entries: list[tuple[str, int]]

    def __call__(self, db: sqlite3.Connection) -> None:
        db.executemany("DELETE FROM outbox WHERE identity = ? AND seq = ?", self.entries)
        identities = dict.fromkeys(identity for identity, _ in self.entries)
        db.executemany(
            FORGET_HANDSHAKE_WITHOUT_BACKLOG, [(identity, identity) for identity in identities]
        )
