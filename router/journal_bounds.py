"""What the journal keeps when it reaches its bounds ([router.offline] limits).

A charger on the site network may send large MeterValues at its full frame budget during an
outage; without a bound the journal grows until the disk is full and everything stops. The
bounds: bytes per charger, bytes in total, and an age for periodic meter values.

What is kept, first to last:
1. every entry that is not a periodic meter value: transaction starts and stops (1.6
   Start/StopTransaction, 2.x TransactionEvent other than periodic updates), security events,
   reports;
2. per transaction the LC has seen, its latest periodic meter value;
3. the other periodic meter values (1.6 MeterValues with a transactionId, 2.x TransactionEvent
   Updated triggered by MeterValuePeriodic or MeterValueClock), newest first; those of a
   transaction the LC never saw have no latest kept.

When a new entry would cross a bound, periodic meter values of class 3 are dropped oldest
first (at a charger's own bound, its own; at the total bound, the journal's oldest) until it
fits; periodic meter values older than the age bound are dropped the same way. If it still does
not fit, it is refused: the charger gets a CALLERROR and keeps the message itself. A full disk
("database or disk is full") is handled as a bound reached at once (see Journal.append).

Runs inside the append's write transaction, on the journal's connection, in its thread.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

MIB = 1 << 20
_BATCH = 256


@dataclass(frozen=True, slots=True)
class JournalLimits:
    # A busy charger sending ~2 KB of meter values every 10 s journals ~17 MB a day: the
    # defaults keep several days of that per charger, and a day of ~120 such chargers in all.
    charger_bytes: int = 64 * MIB
    total_bytes: int = 2048 * MIB
    meter_value_age_s: float = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class NewEntry:
    identity: str
    size: int  # bytes of the frame's text, UTF-8
    periodic: bool  # a periodic meter value (class 2 or 3)
    transaction: str | None  # the seen transaction a periodic meter value belongs to


def make_room(
    db: sqlite3.Connection, limits: JournalLimits, entry: NewEntry, now: float
) -> tuple[int, bool]:
    """Drop what the bounds say to drop for `entry`: (entries dropped, whether it now fits)."""
    shed = _shed(db, entry, None, now - limits.meter_value_age_s, None)
    over_charger = _charger_bytes(db, entry.identity) + entry.size - limits.charger_bytes
    if over_charger > 0:
        shed += _shed(db, entry, entry.identity, None, over_charger)
    over_total = _total_bytes(db) + entry.size - limits.total_bytes
    if over_total > 0:
        shed += _shed(db, entry, None, None, over_total)
    fits = (
        _charger_bytes(db, entry.identity) + entry.size <= limits.charger_bytes
        and _total_bytes(db) + entry.size <= limits.total_bytes
    )
    return shed, fits


def shed_for_disk(db: sqlite3.Connection, entry: NewEntry) -> int:
    """The disk is full: drop the charger's droppable meter values to free room for `entry`
    (SQLite reuses the freed pages), then the journal's oldest if that was not enough."""
    shed = _shed(db, entry, entry.identity, None, entry.size)
    if not shed:
        shed = _shed(db, entry, None, None, entry.size)
    return shed


def _shed(
    db: sqlite3.Connection,
    entry: NewEntry,
    identity: str | None,
    older_than: float | None,
    need: int | None,
) -> int:
    """Drop droppable meter values (of `identity`, or of every charger), oldest first: those
    appended before `older_than`, or until `need` bytes are freed. Returns how many."""
    scope = "o.identity = ?" if identity is not None else "1"
    age = "o.appended_at < ?" if older_than is not None else "1"
    order = "o.seq" if identity is not None else "o.appended_at"
    sql = f"""SELECT o.identity, o.seq, LENGTH(CAST(o.text AS BLOB)) FROM outbox AS o
        WHERE o.periodic = 1 AND {scope} AND {age} AND (
            o.meter_of IS NULL
            OR (o.identity = ? AND o.meter_of = ?)
            OR o.seq < (SELECT MAX(later.seq) FROM outbox AS later
                WHERE later.identity = o.identity AND later.meter_of = o.meter_of))
        ORDER BY {order} LIMIT {_BATCH}"""
    parameters: list[object] = [
        *([identity] if identity is not None else []),
        *([older_than] if older_than is not None else []),
        entry.identity,
        entry.transaction if entry.periodic else None,
    ]
    dropped, freed = 0, 0
    while need is None or freed < need:
        rows = db.execute(sql, parameters).fetchall()
        victims = []
        for victim_identity, seq, size in rows:
            if need is not None and freed >= need:
                break
            victims.append((victim_identity, seq))
            freed += int(size)
        if not victims:
            break
        db.executemany("DELETE FROM outbox WHERE identity = ? AND seq = ?", victims)
        dropped += len(victims)
        if len(rows) < _BATCH:
            break
    return dropped


def _charger_bytes(db: sqlite3.Connection, identity: str) -> int:
    rows = db.execute("SELECT bytes FROM outbox_sizes WHERE identity = ?", (identity,)).fetchall()
    return int(rows[0][0]) if rows else 0


def _total_bytes(db: sqlite3.Connection) -> int:
    rows = db.execute("SELECT COALESCE(SUM(bytes), 0) FROM outbox_sizes").fetchall()
    return int(rows[0][0])
