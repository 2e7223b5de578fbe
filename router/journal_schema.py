"""The journal's tables, as migrations from an empty file to SCHEMA_VERSION.

A journal written by an older LC is brought up to date when it opens (router/journal.py): each
migration runs in one transaction with the version it reaches, so a crash leaves the old schema
or the new one, never half of one.
"""

from __future__ import annotations

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
