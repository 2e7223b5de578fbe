"""The `hold` journal: order, durability across close and kill -9, caches, credential hashes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import signal
import sqlite3
import stat
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from router.journal import (
    _MIGRATIONS,
    SCHEMA_VERSION,
    Journal,
    JournalEntry,
    JournalError,
    StoredHandshake,
)
from router.local_answers import BootAnswer

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"


@pytest.fixture
async def journal(db_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(db_path)
    yield opened
    await opened.close()


def texts(entries: list[JournalEntry]) -> list[str]:
    return [entry.text for entry in entries]


def seqs(entries: list[JournalEntry]) -> list[int]:
    return [entry.seq for entry in entries]


# --- outbox -------------------------------------------------------------------------------------


async def test_order_per_charger_and_chargers_independent(journal: Journal) -> None:
    for i in range(5):
        await journal.append("CP1", f"cp1 {i}")
        await journal.append("CP2", f"cp2 {i}")

    assert texts(await journal.pending("CP1")) == [f"cp1 {i}" for i in range(5)]
    assert texts(await journal.pending("CP2")) == [f"cp2 {i}" for i in range(5)]
    assert seqs(await journal.pending("CP1")) == [1, 2, 3, 4, 5]
    assert await journal.pending("CP3") == []

    await journal.acknowledge("CP1", 1)
    assert len(await journal.pending("CP2")) == 5


async def test_acknowledge_in_the_middle_keeps_order_and_never_reuses_seq(journal: Journal) -> None:
    for i in range(5):
        await journal.append("CP1", f"frame {i}")

    await journal.acknowledge("CP1", 3)
    await journal.acknowledge("CP1", 3)  # twice: harmless
    await journal.acknowledge("CP1", 99)  # unknown: harmless
    assert seqs(await journal.pending("CP1")) == [1, 2, 4, 5]
    assert texts(await journal.pending("CP1")) == ["frame 0", "frame 1", "frame 3", "frame 4"]

    assert (await journal.append("CP1", "frame 5")).seq == 6
    for seq in (1, 2, 4, 5, 6):
        await journal.acknowledge("CP1", seq)
    assert await journal.pending("CP1") == []
    # Emptied outbox: numbering continues, so a late acknowledgement cannot hit a new entry.
    assert (await journal.append("CP1", "frame 6")).seq == 7


async def test_replace_text(journal: Journal) -> None:
    for i in range(3):
        await journal.append("CP1", f"frame {i}")

    await journal.replace_text("CP1", 2, "rewritten")

    assert texts(await journal.pending("CP1")) == ["frame 0", "rewritten", "frame 2"]
    with pytest.raises(KeyError):
        await journal.replace_text("CP1", 42, "nothing there")
    with pytest.raises(KeyError):
        await journal.replace_text("CP2", 2, "other charger")


async def test_entry_fields_and_provisional_transaction_id(journal: Journal) -> None:
    before = time.time()
    await journal.append("CP1", "start", provisional_transaction_id=-1)
    await journal.append("CP1", "meter values")
    await journal.append("CP1", "in flight", sent_before=True)
    after = time.time()

    start, meter_values, in_flight = await journal.pending("CP1")
    assert start.provisional_transaction_id == -1
    assert meter_values.provisional_transaction_id is None
    assert not start.sent_before and not meter_values.sent_before and in_flight.sent_before
    assert before <= start.appended_at <= meter_values.appended_at <= after


async def test_backlog_and_identities(journal: Journal) -> None:
    assert await journal.backlog() == {}
    assert await journal.identities_with_backlog() == []

    await journal.append("CP2", "a")
    await journal.append("CP1", "b")
    await journal.append("CP2", "c")

    backlog = await journal.backlog()
    oldest_cp2 = (await journal.pending("CP2"))[0].appended_at
    assert backlog == {"CP1": (1, backlog["CP1"][1]), "CP2": (2, oldest_cp2)}
    assert await journal.identities_with_backlog() == ["CP1", "CP2"]

    await journal.acknowledge("CP1", 1)
    assert await journal.identities_with_backlog() == ["CP2"]


async def test_concurrent_appends_get_unique_seqs_in_commit_order(journal: Journal) -> None:
    async def append(identity: str, n: int) -> tuple[int, str]:
        text = f"{identity} {n}"
        return (await journal.append(identity, text)).seq, text

    results = await asyncio.gather(
        *(append(f"CP{n % 3}", n) for n in range(60)), journal.backlog(), journal.pending("CP0")
    )
    appended = [result for result in results if isinstance(result, tuple)]

    for identity in ("CP0", "CP1", "CP2"):
        entries = await journal.pending(identity)
        assert seqs(entries) == list(range(1, 21))
        by_seq = {seq: text for seq, text in appended if text.startswith(identity + " ")}
        assert [by_seq[entry.seq] for entry in entries] == texts(entries)


async def test_concurrent_writes_share_commits(journal: Journal, db_path: Path) -> None:
    wal = db_path.with_name(db_path.name + "-wal")
    frames_before = _wal_frames(wal)

    await asyncio.gather(*(journal.remember_status(f"CP{n}", "1", f"s{n}") for n in range(200)))

    assert len(await asyncio.gather(*(journal.statuses(f"CP{n}") for n in range(200)))) == 200
    # A commit writes at least one page to the write-ahead log: 200 commits, 200 pages or more.
    assert _wal_frames(wal) - frames_before < 50


async def test_a_failing_write_fails_alone(journal: Journal) -> None:
    good = [journal.append("CP1", f"frame {n}") for n in range(10)]
    bad = journal._write(("INSERT INTO nowhere VALUES (1)", ()))

    results = await asyncio.gather(*good[:5], bad, *good[5:], return_exceptions=True)

    assert isinstance(results[5], sqlite3.OperationalError)
    assert texts(await journal.pending("CP1")) == [f"frame {n}" for n in range(10)]


def _wal_frames(wal: Path) -> int:
    """Frames (pages) written to the write-ahead log so far: its size after the header."""
    page = 4096 + 24  # SQLite's default page size, and each frame's header
    return max(wal.stat().st_size - 32, 0) // page if wal.exists() else 0


async def test_an_acknowledgement_not_awaited_commits_before_later_writes(db_path: Path) -> None:
    journal = await Journal.open(db_path)
    for n in range(3):
        await journal.append("CP1", f"frame {n}")

    journal.acknowledge_soon("CP1", 1)
    await journal.remember_status("CP1", "1", "Available")  # queued after it: committed after it
    assert seqs(await journal.pending("CP1")) == [2, 3]
    journal.acknowledge_soon("CP1", 2)
    await journal.close()  # commits what is still queued

    journal = await Journal.open(db_path)
    try:
        assert seqs(await journal.pending("CP1")) == [3]
    finally:
        await journal.close()


async def test_acknowledgements_not_awaited_share_one_task_and_commit(db_path: Path) -> None:
    journal = await Journal.open(db_path)
    for n in range(100):
        await journal.append(f"CP{n % 10}", f"frame {n}")
    tasks_before = len(asyncio.all_tasks())

    for n in range(100):
        journal.acknowledge_soon(f"CP{n % 10}", n // 10 + 1)

    # A replay of a thousand chargers acknowledges thousands of entries a second.
    assert len(asyncio.all_tasks()) <= tasks_before + 1
    await journal.close()  # commits what is still queued
    journal = await Journal.open(db_path)
    try:
        assert await journal.backlog() == {}
        assert await journal.handshakes() == {}
    finally:
        await journal.close()


async def test_a_read_goes_between_unawaited_acknowledgements(journal: Journal) -> None:
    await journal.append("CP1", "frame")
    read: asyncio.Task[list[JournalEntry]] | None = None
    fed = 0
    # A replay acknowledges without pause; the backlog of a charger starting its replay is read
    # meanwhile, not once the acknowledgements stop.
    while (read is None or not read.done()) and fed < 5000:
        journal.acknowledge_soon("CP2", fed)
        fed += 1
        if fed == 10:  # the acknowledgements are being committed
            read = asyncio.create_task(journal.pending("CP1"))
        await asyncio.sleep(0)

    assert read is not None and read.done()
    assert texts(read.result()) == ["frame"]


# Acknowledges entries 1-3 of CP1 without waiting, while another connection holds the write
# lock (as `lc journal drop` may), and says so: killed then, the acknowledgements never commit.
_ACKNOWLEDGER = """
import asyncio, sys
from pathlib import Path
from router.journal import Journal

async def main():
    journal = await Journal.open(Path(sys.argv[1]))
    for seq in (1, 2, 3):
        journal.acknowledge_soon("CP1", seq)
    await asyncio.sleep(0.01)  # the group commit has started and waits for the lock
    print("queued", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_acknowledgements_lost_in_a_crash_leave_their_entries_to_replay(
    db_path: Path,
) -> None:
    journal = await Journal.open(db_path)
    for n in range(5):
        await journal.append("CP1", f"frame {n}")
    await journal.close()
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    acknowledger = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _ACKNOWLEDGER,
        str(db_path),
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert acknowledger.stdout is not None
    try:
        async with asyncio.timeout(20):
            assert await acknowledger.stdout.readline() == b"queued\n"
    finally:
        acknowledger.send_signal(signal.SIGKILL)
        await acknowledger.wait()
        other.execute("ROLLBACK")
        other.close()

    journal = await Journal.open(db_path)
    try:
        # Every entry is replayed again, in order: at-least-once, none lost.
        assert texts(await journal.pending("CP1")) == [f"frame {n}" for n in range(5)]
    finally:
        await journal.close()


async def test_cancelled_writer_leaves_journal_usable(journal: Journal) -> None:
    task = asyncio.create_task(journal.append("CP1", "maybe"))
    await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    await journal.append("CP1", "surely")
    # At-least-once: the cancelled append may or may not have landed, the later one is after it.
    assert texts(await journal.pending("CP1"))[-1] == "surely"


# --- durability ---------------------------------------------------------------------------------


async def test_everything_survives_close_and_reopen(db_path: Path) -> None:
    journal = await Journal.open(db_path)
    await journal.append("CP1", "one")
    await journal.append("CP1", "two")
    await journal.acknowledge("CP1", 1)
    await journal.map_transaction("CP1", -1, 501)
    await journal.remember_authorization("1.6", "TAG1", {"status": "Accepted"}, None)
    await journal.remember_boot("CP1", BootAnswer("Pending", 30))
    await journal.remember_status("CP1", "1", "status 1")
    await journal.close()

    journal = await Journal.open(db_path)
    try:
        assert seqs(await journal.pending("CP1")) == [2]
        assert texts(await journal.pending("CP1")) == ["two"]
        assert (await journal.append("CP1", "three")).seq == 3
        assert await journal.transaction_map("CP1") == {-1: 501}
        assert await journal.authorizations("1.6") == {"TAG1": ({"status": "Accepted"}, None)}
        assert await journal.boots() == {"CP1": BootAnswer("Pending", 30)}
        assert await journal.statuses("CP1") == ["status 1"]
    finally:
        await journal.close()


# Appends alternately for two chargers and prints "<identity> <seq>" once each append returned.
_WRITER = """
import asyncio, sys
from pathlib import Path
from router.journal import Journal

async def main():
    journal = await Journal.open(Path(sys.argv[1]))
    for n in range(int(sys.argv[2])):
        identity = f"CP{n % 2}"
        seq = (await journal.append(identity, f"frame {n}")).seq
        print(identity, seq, flush=True)

asyncio.run(main())
"""
_WRITER_FRAMES = 100_000
_KILL_AFTER = 150


async def test_survives_kill_9_of_the_writer(db_path: Path) -> None:
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _WRITER,
        str(db_path),
        str(_WRITER_FRAMES),
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert writer.stdout is not None
    printed: list[tuple[str, int]] = []
    try:
        async with asyncio.timeout(10):
            while len(printed) < _KILL_AFTER:
                line = await writer.stdout.readline()
                assert line, "writer exited early"
                identity, seq = line.decode().split()
                printed.append((identity, int(seq)))
    finally:
        writer.send_signal(signal.SIGKILL)
    # Lines the writer printed before it died are still in the pipe.
    async with asyncio.timeout(10):
        for rest in (await writer.stdout.read()).decode().splitlines():
            identity, seq = rest.split()
            printed.append((identity, int(seq)))
        assert await writer.wait() == -signal.SIGKILL
    assert len(printed) < _WRITER_FRAMES, "killed too late to be mid-way"

    journal = await Journal.open(db_path)
    try:
        for charger in (0, 1):
            identity = f"CP{charger}"
            entries = await journal.pending(identity)
            confirmed = [seq for who, seq in printed if who == identity]
            # Every confirmed seq is there; an extra, unconfirmed, entry may follow.
            assert len(entries) >= len(confirmed)
            assert seqs(entries) == list(range(1, len(entries) + 1))
            assert confirmed == list(range(1, len(confirmed) + 1))
            # Nothing lost, nothing reordered: this charger's frames, in order, without a gap.
            sent = [f"frame {n}" for n in range(charger, _WRITER_FRAMES, 2)]
            assert texts(entries) == sent[: len(entries)]
    finally:
        await journal.close()


async def test_wal_and_full_synchronous(journal: Journal, db_path: Path) -> None:
    # synchronous is per connection: ask the journal's own.
    assert list(await journal._read("PRAGMA journal_mode")) == [("wal",)]
    assert list(await journal._read("PRAGMA synchronous")) == [(2,)]  # FULL
    assert list(await journal._read("PRAGMA user_version")) == [(SCHEMA_VERSION,)]
    assert _permissions(db_path) & 0o077 == 0  # credential hashes: owner only


async def test_a_version_1_journal_is_upgraded_with_its_backlog(db_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        for statement in _MIGRATIONS[0]:
            db.execute(statement)
        db.execute("INSERT INTO outbox VALUES ('CP1', 1, 'start', 0.0, -1)")
        db.execute("INSERT INTO counters VALUES ('CP1', 'outbox', 1)")
        db.execute("PRAGMA user_version = 1")
        db.commit()
    journal = await Journal.open(db_path)
    try:
        assert await journal.pending("CP1") == [JournalEntry(1, "start", 0.0, -1, False)]
        assert list(await journal._read("PRAGMA user_version")) == [(SCHEMA_VERSION,)]
        # The byte totals the bounds use start from the entries already there.
        assert await journal.oldest_entries() == {"CP1": 0.0}
        await journal.append("CP1", "more")
        assert (await journal.backlog_summaries())["CP1"].size_bytes == len("startmore")
        await journal.acknowledge("CP1", 1)
        assert (await journal.backlog_summaries())["CP1"].size_bytes == len("more")
    finally:
        await journal.close()


async def test_refuses_a_newer_schema(db_path: Path) -> None:
    await (await Journal.open(db_path)).close()
    _set_user_version(db_path, 99)
    with pytest.raises(JournalError, match="newer"):
        await Journal.open(db_path)


# --- 1.6 transaction ids ------------------------------------------------------------------------


async def test_provisional_ids_negative_and_unique_across_reopen(db_path: Path) -> None:
    journal = await Journal.open(db_path)
    assert await journal.next_provisional_transaction_id("CP1") == -1
    assert await journal.next_provisional_transaction_id("CP1") == -2
    assert await journal.next_provisional_transaction_id("CP2") == -1
    assert await journal.next_provisional_transaction_ids("CP1", 4) == [-3, -4, -5, -6]
    assert await journal.next_provisional_transaction_id("CP1") == -7
    await journal.map_transaction("CP1", -1, 7)
    await journal.forget_transaction("CP1", -1)
    await journal.close()

    journal = await Journal.open(db_path)
    try:
        assert await journal.next_provisional_transaction_id("CP1") == -8
        assert await journal.next_provisional_transaction_id("CP2") == -2
    finally:
        await journal.close()


async def test_transaction_map(journal: Journal) -> None:
    await journal.map_transaction("CP1", -1, 1001)
    await journal.map_transaction("CP1", -2, 1002)
    await journal.map_transaction("CP2", -1, 2001)
    assert await journal.transaction_map("CP1") == {-1: 1001, -2: 1002}
    assert await journal.transaction_map("CP2") == {-1: 2001}

    await journal.forget_transaction("CP1", -1)
    await journal.forget_transaction("CP1", -9)  # unknown: harmless
    assert await journal.transaction_map("CP1") == {-2: 1002}
    assert await journal.transaction_map("CP3") == {}


# --- caches -------------------------------------------------------------------------------------


async def test_authorization_cache_round_trip(db_path: Path) -> None:
    info_201 = {"status": "Accepted", "groupIdToken": {"idToken": "G1", "type": "Central"}}
    journal = await Journal.open(db_path)
    await journal.remember_authorization("1.6", "TAG1", {"status": "Accepted"}, 1_800_000_000.5)
    await journal.remember_authorization("1.6", "TAG2", {"status": "Accepted"}, None)
    await journal.remember_authorization("1.6", "TAG2", {"status": "Blocked"}, None)
    await journal.remember_authorization("2.0.1", "TAG1", info_201, None)
    await journal.close()

    journal = await Journal.open(db_path)
    try:
        assert await journal.authorizations("1.6") == {
            "TAG1": ({"status": "Accepted"}, 1_800_000_000.5),
            "TAG2": ({"status": "Blocked"}, None),
        }
        assert await journal.authorizations("2.0.1") == {"TAG1": (info_201, None)}
        assert await journal.authorizations("2.1") == {}
    finally:
        await journal.close()


async def test_refusals_keep_id_types_until_forgotten(db_path: Path) -> None:
    journal = await Journal.open(db_path)
    await journal.remember_refusal("CP1", -3, 1)
    await journal.remember_refusal("CP1", "-3", None)  # a 2.0.1 id that looks like a 1.6 one
    await journal.remember_refusal("CP2", "tx-9", 2)
    await journal.close()

    journal = await Journal.open(db_path)
    try:
        assert sorted(await journal.refusals("CP1"), key=repr) == [("-3", None), (-3, 1)]
        await journal.forget_refusal("CP1", -3)
        assert await journal.refusals("CP1") == [("-3", None)]
        assert await journal.refusals("CP2") == [("tx-9", 2)]
        assert await journal.refusals("CP3") == []
    finally:
        await journal.close()


async def test_boot_answers(journal: Journal) -> None:
    await journal.remember_boot("CP1", BootAnswer("Accepted", 60))
    await journal.remember_boot("CP2", BootAnswer("Rejected", 300))
    await journal.remember_boot("CP1", BootAnswer("Pending", 900))
    assert await journal.boots() == {
        "CP1": BootAnswer("Pending", 900),
        "CP2": BootAnswer("Rejected", 300),
    }


async def test_statuses_keep_latest_per_connector_in_connector_order(journal: Journal) -> None:
    await journal.remember_status("CP1", "2", "connector 2 Available")
    await journal.remember_status("CP1", "10", "connector 10 Faulted")
    await journal.remember_status("CP1", "0", "station Available")
    await journal.remember_status("CP1", "2", "connector 2 Charging")
    await journal.remember_status("CP2", "1", "other charger")

    assert await journal.statuses("CP1") == [
        "station Available",
        "connector 2 Charging",
        "connector 10 Faulted",
    ]

    await journal.clear_statuses("CP1")
    assert await journal.statuses("CP1") == []
    assert await journal.statuses("CP2") == ["other charger"]


# --- credentials --------------------------------------------------------------------------------

PASSWORD = "Tr0ub4dor-and-3"
HEADER = "Basic " + base64.b64encode(f"CP1:{PASSWORD}".encode()).decode()


async def test_credentials_match_mismatch_unknown(journal: Journal) -> None:
    await journal.remember_credentials("CP1", HEADER, "ocpp1.6")

    assert await journal.admit("CP1", HEADER) == "ocpp1.6"
    wrong = "Basic " + base64.b64encode(b"CP1:guess").decode()
    assert await journal.admit("CP1", wrong) is None
    assert await journal.admit("CP1", None) is None
    assert await journal.admit("CP9", HEADER) is None
    assert await journal.admit("CP9", None) is None


async def test_charger_without_credentials(journal: Journal) -> None:
    await journal.remember_credentials("CP2", None, "ocpp2.0.1")

    assert await journal.admit("CP2", None) == "ocpp2.0.1"
    assert await journal.admit("CP2", HEADER) is None


async def test_same_credentials_keep_their_salt(journal: Journal, db_path: Path) -> None:
    await journal.remember_credentials("CP1", HEADER, "ocpp1.6")
    first = _stored_salt(db_path, "CP1")

    await journal.remember_credentials("CP1", HEADER, "ocpp1.6")
    assert _stored_salt(db_path, "CP1") == first

    # A new subprotocol alone is an update, not a rehash.
    await journal.remember_credentials("CP1", HEADER, "ocpp2.0.1")
    assert _stored_salt(db_path, "CP1") == first
    assert await journal.admit("CP1", HEADER) == "ocpp2.0.1"

    # New password: new salt, and the old password no longer admits.
    new_header = "Basic " + base64.b64encode(b"CP1:rotated").decode()
    await journal.remember_credentials("CP1", new_header, "ocpp2.0.1")
    assert _stored_salt(db_path, "CP1") != first
    assert await journal.admit("CP1", new_header) == "ocpp2.0.1"
    assert await journal.admit("CP1", HEADER) is None

    # Credentials dropped (None) replace them too.
    await journal.remember_credentials("CP1", None, "ocpp2.0.1")
    assert await journal.admit("CP1", None) == "ocpp2.0.1"
    assert await journal.admit("CP1", new_header) is None


async def test_password_never_reaches_the_file(db_path: Path) -> None:
    journal = await Journal.open(db_path)
    await journal.remember_credentials("CP1", HEADER, "ocpp1.6")
    assert await journal.admit("CP1", HEADER) == "ocpp1.6"
    secrets_in_clear = [PASSWORD.encode(), HEADER.encode(), HEADER.split()[1].encode()]
    try:
        # While open: the main file plus its write-ahead log.
        assert not _files_contain(db_path.parent, secrets_in_clear)
    finally:
        await journal.close()
    assert not _files_contain(db_path.parent, secrets_in_clear)


# --- helpers (synchronous, small files) ---------------------------------------------------------


def _stored_salt(db_path: Path, identity: str) -> bytes:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        (salt,) = db.execute(
            "SELECT salt FROM credentials WHERE identity = ?", (identity,)
        ).fetchone()
    return bytes(salt)


def _permissions(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _set_user_version(db_path: Path, version: int) -> None:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        db.execute(f"PRAGMA user_version = {version}")


def _files_contain(directory: Path, needles: list[bytes]) -> bool:
    contents = [path.read_bytes() for path in directory.iterdir() if path.is_file()]
    assert contents  # the database is there to search
    return any(needle in content for needle in needles for content in contents)


def _remembered(db_path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return {str(row[0]) for row in db.execute("SELECT identity FROM credentials")}


async def test_beyond_the_bound_the_credentials_used_longest_ago_are_forgotten(
    db_path: Path,
) -> None:
    journal = await Journal.open(db_path, max_credentials=3)
    try:
        for identity in ("CP1", "CP2", "CP3"):
            await journal.remember_credentials(identity, None, "ocpp1.6")
        assert await journal.admit("CP1", None) == "ocpp1.6"  # CP2 is now used longest ago
        await journal.remember_credentials("CP4", None, "ocpp1.6")
        assert _remembered(db_path) == {"CP1", "CP3", "CP4"}
        # A charger connected now is kept, even when its credentials were used longest ago.
        await journal.remember_credentials("CP5", None, "ocpp1.6", keep={"CP3"})
        assert _remembered(db_path) == {"CP1", "CP3", "CP4", "CP5"}
        await journal.remember_credentials("CP6", None, "ocpp1.6")
        assert _remembered(db_path) == {"CP4", "CP5", "CP6"}
        assert await journal.admit("CP3", None) is None
    finally:
        await journal.close()


async def test_a_stored_handshake_lives_exactly_as_long_as_its_backlog(journal: Journal) -> None:
    handshake = StoredHandshake("/ocpp/CP1", "ocpp1.6", True, b"sealed")
    first = (await journal.append("CP1", "one", handshake=handshake)).seq
    second = (await journal.append("CP1", "two", handshake=handshake)).seq
    assert (await journal.handshakes()).get("CP1") == handshake
    assert "sealed" not in repr(handshake)
    await journal.acknowledge("CP1", first)
    assert (await journal.handshakes()).get("CP1") == handshake  # one entry still waits
    await journal.acknowledge("CP1", second)
    assert (await journal.handshakes()).get("CP1") is None


async def test_backlog_summaries_and_drop(journal: Journal) -> None:
    handshake = StoredHandshake("/ocpp/CP1", "ocpp1.6", False)
    await journal.append("CP1", "ab", handshake=handshake)
    await journal.append("CP1", "é")  # sizes are UTF-8 bytes
    await journal.append("CP2", "x")
    await journal.remember_status("CP1", "1", "status")
    summaries = await journal.backlog_summaries()
    assert [(k, v.count, v.size_bytes) for k, v in summaries.items()] == [
        ("CP1", 2, 4),
        ("CP2", 1, 1),
    ]
    oldest = await journal.oldest_entries()
    assert list(oldest) == ["CP1", "CP2"]
    assert oldest["CP1"] == summaries["CP1"].oldest
    assert await journal.drop("CP1", [1]) == 1
    assert texts(await journal.pending("CP1")) == ["é"]  # one not exported stays, and with it
    assert await journal.statuses("CP1") == ["status"] and (await journal.handshakes()).get("CP1")
    assert await journal.drop("CP1", [1, 2]) == 1
    assert await journal.pending("CP1") == []
    assert await journal.statuses("CP1") == [] and (await journal.handshakes()).get("CP1") is None
    assert list(await journal.backlog_summaries()) == ["CP2"]
    assert list(await journal.oldest_entries()) == ["CP2"]
