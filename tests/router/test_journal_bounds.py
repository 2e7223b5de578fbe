"""The journal's bounds (router/journal_bounds.py) on a real SQLite file: what is dropped
first, what is never dropped, and a full disk (SQLite's own "database or disk is full")."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from router.journal import Journal, JournalFull
from router.journal_bounds import JournalLimits

KIB = 1024


def frame(action: str, n: int, size: int = 100) -> str:
    """A request frame of about `size` bytes."""
    return json.dumps([2, f"{action}-{n}", action, {"pad": "x" * max(0, size - 60)}])


async def actions(journal: Journal, identity: str = "CP1") -> list[str]:
    return [json.loads(entry.text)[1] for entry in await journal.pending(identity)]


async def sizes(journal: Journal) -> dict[str, int]:
    return {k: v.size_bytes for k, v in (await journal.backlog_summaries()).items()}


@pytest.fixture
async def bounded(tmp_path: Path) -> AsyncIterator[Journal]:
    limits = JournalLimits(charger_bytes=2 * KIB, total_bytes=3 * KIB, meter_value_age_s=3600)
    journal = await Journal.open(tmp_path / "journal.sqlite", limits)
    yield journal
    await journal.close()


async def test_at_a_chargers_bound_its_oldest_meter_values_go_first(bounded: Journal) -> None:
    await bounded.append("CP1", frame("Start", 0))
    shed = 0
    for n in range(40):  # ~4 KB of meter values for a 2 KB bound
        appended = await bounded.append("CP1", frame("Meter", n), periodic=True, transaction="T1")
        shed += appended.shed
    shed += (await bounded.append("CP1", frame("Stop", 0))).shed
    kept = await actions(bounded)
    assert kept[0] == "Start-0" and kept[-2:] == ["Meter-39", "Stop-0"]
    meters = [m for m in kept if m.startswith("Meter")]
    assert meters == [f"Meter-{n}" for n in range(40 - len(meters), 40)]  # the newest, in order
    assert shed == 40 - len(meters) > 0
    assert (await sizes(bounded))["CP1"] <= 2 * KIB


async def test_the_latest_meter_value_of_a_seen_transaction_is_kept(bounded: Journal) -> None:
    await bounded.append("CP1", frame("Meter", 0, 600), periodic=True, transaction="T1")
    await bounded.append("CP1", frame("Meter", 1, 600), periodic=True, transaction="T2")
    await bounded.append("CP1", frame("Unseen", 0, 600), periodic=True)
    await bounded.append("CP1", frame("Start", 0, 600))
    # No room left but the latest of T1 and T2: the unseen transaction's value goes.
    assert await actions(bounded) == ["Meter-0", "Meter-1", "Start-0"]
    with pytest.raises(JournalFull) as full:
        await bounded.append("CP1", frame("Stop", 0, 600))
    assert full.value.reason == "limit"
    assert await actions(bounded) == ["Meter-0", "Meter-1", "Start-0"]  # nothing lost
    # A newer value of T1 makes the older one droppable.
    await bounded.append("CP1", frame("Meter", 2, 600), periodic=True, transaction="T1")
    assert await actions(bounded) == ["Meter-1", "Start-0", "Meter-2"]


async def test_at_the_total_bound_the_journals_oldest_meter_values_go(bounded: Journal) -> None:
    for n in range(10):
        await bounded.append("CP1", frame("Meter", n, 200), periodic=True)
    for n in range(10):
        await bounded.append("CP2", frame("Meter", n, 200), periodic=True)
    total = await sizes(bounded)
    assert sum(total.values()) <= 3 * KIB
    assert (await actions(bounded, "CP2"))[-1] == "Meter-9"
    assert len(await actions(bounded, "CP1")) < 10  # CP1's older values made room for CP2


async def test_old_meter_values_go_whatever_the_room(bounded: Journal) -> None:
    await bounded.append("CP1", frame("Meter", 0), periodic=True, transaction="T1")
    await bounded.append("CP1", frame("Meter", 1), periodic=True, transaction="T1")
    await bounded.append("CP1", frame("Start", 0))
    await bounded._read("UPDATE outbox SET appended_at = appended_at - 7200")
    await bounded.append("CP1", frame("Stop", 0))
    # Older than an hour: the meter value goes, not the start nor T1's latest.
    assert await actions(bounded) == ["Meter-1", "Start-0", "Stop-0"]


async def test_a_full_disk_sheds_meter_values_then_refuses_cleanly(tmp_path: Path) -> None:
    journal = await Journal.open(tmp_path / "journal.sqlite")  # default (large) bounds
    try:
        [(pages,)] = await journal._read("PRAGMA page_count")
        # SQLite's own limit on the file: past it, writes fail with SQLITE_FULL.
        await journal._read(f"PRAGMA max_page_count = {pages + 12}")
        meters = 0
        with pytest.raises(JournalFull) as full:
            for n in range(1000):
                await journal.append("CP1", frame("Start", n, 2000))
                await journal.append("CP1", frame("Meter", n, 2000), periodic=True)
                meters += 1
        assert full.value.reason == "disk_full"
        # Before refusing, it made room from meter values: none of them is left.
        kept = await actions(journal)
        assert meters > 0 and not [m for m in kept if m.startswith("Meter")]
        assert all(m.startswith("Start") for m in kept)
        # The journal still works: delivering frees room, and the next append lands.
        for entry in await journal.pending("CP1"):
            await journal.acknowledge("CP1", entry.seq)
        await journal.append("CP1", frame("Stop", 0, 2000))
        assert await actions(journal) == ["Stop-0"]
    finally:
        await journal.close()
