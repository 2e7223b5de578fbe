"""The C heap's free pages are given back to the system when the links freeze or are reclaimed,
and every minute: memory freed between blocks that stay does not stay in the LC's RSS."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from supervision.gc_freeze import Decision, apply
from supervision.heap import HeapReleaser, release_free_heap
from tests.peers import wait_until

BLOCKS = 40_000
BLOCK_BYTES = 2048  # above Python's small-object limit: from the C library's malloc
KEEP_EVERY = 8  # what stays, as the links' blocks stay among what a peak freed


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("decision", list(Decision))
def test_freezing_gives_the_heaps_free_pages_back(decision: Decision) -> None:
    if not release_free_heap():
        pytest.skip("the C library cannot trim its heap (not glibc)")
    blocks = [bytes(BLOCK_BYTES) for _ in range(BLOCKS)]
    kept = blocks[::KEEP_EVERY]
    del blocks  # the holes: 7 of every 8 blocks, ~70 MiB in all
    holding = _rss_kib()
    try:
        apply(decision)
        released = holding - _rss_kib()
    finally:
        gc.unfreeze()  # leave the test process's collector as it was
    freed_kib = BLOCKS * BLOCK_BYTES * (KEEP_EVERY - 1) // KEEP_EVERY // 1024
    print(f"{decision.value}: {released:,} KiB of {freed_kib:,} KiB freed given back")
    assert released > freed_kib // 2
    assert len(kept) == BLOCKS // KEEP_EVERY


async def test_free_pages_are_given_back_every_interval() -> None:
    if not release_free_heap():
        pytest.skip("the C library cannot trim its heap (not glibc)")
    releaser = HeapReleaser(interval_s=0.05)
    try:
        # Blocks freed after a release are given back at the next one.
        blocks = [bytes(BLOCK_BYTES) for _ in range(BLOCKS)]
        kept = blocks[::KEEP_EVERY]
        holding = _rss_kib()
        del blocks
        freed_kib = BLOCKS * BLOCK_BYTES * (KEEP_EVERY - 1) // KEEP_EVERY // 1024
        await wait_until(
            lambda: holding - _rss_kib() > freed_kib // 2, timeout_s=10, what="free pages released"
        )
        assert len(kept) == BLOCKS // KEEP_EVERY
    finally:
        releaser.close()
