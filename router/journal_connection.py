"""The journal's SQLite connection: its own thread, and group commit.

Every write is committed with fsync (WAL, synchronous=FULL) before the method returns: once the
LC answers a charger, what it journaled survives a kill -9 or a power cut. Writes that arrive
while one commits wait and then commit together, one fsync for all of them (a group commit):
a thousand chargers connecting at once, or replaying at once, share a few fsyncs instead of
queueing for thousands. Writes nobody waits for (`_write_soon`) join the next group the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

# Writes committed in one transaction at most: bounds how long one group holds the file.
_MAX_GROUP = 500

Statement = tuple[str, Sequence[object]]
Work = Callable[[sqlite3.Connection], Any]  # runs in the journal's thread
T = TypeVar("T")


class JournalError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class QueuedWrite:
    work: Work
    done: asyncio.Future[Any]


class JournalConnection:
    """One SQLite connection, used from one thread, its writes group-committed."""

    def __init__(self, db: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self._db = db
        # The connection's one thread: SQLite's calls (and fsyncs) never block the event loop,
        # and a whole group commit is one trip to it.
        self._thread = thread
        # The lock keeps each transaction (and each read) from interleaving with another
        # task's statements.
        self._lock = asyncio.Lock()
        self._queued: list[QueuedWrite] = []  # writes waiting for the next group commit
        # Commits the writes nobody waits for; one task at a time, not one per write.
        self._flushing: asyncio.Task[None] | None = None

    async def _close_connection(self) -> None:
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        async with self._lock:
            await self._in_thread(self._db.close)
        self._thread.shutdown(wait=False)

    async def _configure(self) -> None:
        (mode,) = (await self._read("PRAGMA journal_mode = WAL"))[0]
        if str(mode).lower() != "wal":
            raise JournalError(f"cannot put the journal in WAL mode (got {mode!r})")
        # FULL: in WAL mode the log is fsynced at every commit, so committed means on disk.
        await self._read("PRAGMA synchronous = FULL")
        await self._read("PRAGMA busy_timeout = 5000")

    async def _read(self, sql: str, parameters: Sequence[object] = ()) -> list[sqlite3.Row]:
        # Under the lock so a read never sees another task's uncommitted writes.
        async with self._lock:
            return await self._in_thread(partial(_fetch_all, self._db, sql, parameters))

    async def _in_thread(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    async def _write(self, *statements: Statement) -> list[sqlite3.Row]:
        """Run the statements in one transaction, committed when this returns; last one's rows."""
        return await self._run(partial(execute_all, statements))

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on the connection, committed when this returns; its effects all or none."""
        queued = self._enqueue(work)
        # Shielded: a caller cancelled mid-way (charger gone) must not leave the shared connection
        # inside an open transaction; the write completes or rolls back on its own.
        result: T = await asyncio.shield(self._commit_queued(queued))
        return result

    def _write_soon(self, work: Work) -> None:
        """Queue `work` for the next group commit without waiting for it. Writes queued after it
        commit with it or after it; if it fails, it is logged and lost."""
        queued = self._enqueue(work)
        queued.done.add_done_callback(_log_lost)
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        try:
            while self._queued:
                # The lock is taken again for each group: reads and awaited writes queued on it
                # meanwhile go first, instead of waiting until no write nobody awaits is left.
                async with self._lock:
                    if self._queued:
                        await self._commit_next_group()
        finally:
            self._flushing = None

    def _enqueue(self, work: Work) -> QueuedWrite:
        queued = QueuedWrite(work, asyncio.get_running_loop().create_future())
        self._queued.append(queued)
        return queued

    async def _commit_queued(self, queued: QueuedWrite) -> Any:
        """Commit the writes queued so far, `queued` among them, unless a group before did."""
        async with self._lock:
            while not queued.done.done():
                await self._commit_next_group()
        return queued.done.result()

    async def _commit_next_group(self) -> None:
        group, self._queued = self._queued[:_MAX_GROUP], self._queued[_MAX_GROUP:]
        await self._commit_group(group)

    async def _commit_group(self, group: list[QueuedWrite]) -> None:
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


async def open_connection(path: Path) -> tuple[sqlite3.Connection, ThreadPoolExecutor]:
    """The database at `path` (created owner-only), opened in a thread of its own."""
    _create_private(path)
    thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
    # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT) in _commit.
    connect = partial(sqlite3.connect, path, isolation_level=None)
    try:
        db = await asyncio.get_running_loop().run_in_executor(thread, connect)
    except BaseException:
        thread.shutdown(wait=False)
        raise
    return db, thread


def disk_full(error: sqlite3.Error) -> bool:
    """SQLite's "database or disk is full" (SQLITE_FULL)."""
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def execute_all(statements: Sequence[Statement], db: sqlite3.Connection) -> list[Any]:
    rows: list[Any] = []
    for sql, parameters in statements:
        rows = db.execute(sql, parameters).fetchall()
    return rows


def _commit(db: sqlite3.Connection, works: Sequence[Work]) -> list[Any]:
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


def _log_lost(done: asyncio.Future[Any]) -> None:
    if not done.cancelled() and (exc := done.exception()) is not None:
        log.warning("a journal write nobody waited for was not committed (%s)", exc)


def _create_private(path: Path) -> None:
    # The file holds credential hashes: owner-only from the start (SQLite gives its -wal and -shm
    # files the database file's permissions).
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
