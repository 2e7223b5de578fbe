"""Give the C heap's free pages back to the operating system (glibc's `malloc_trim`).

Python takes blocks over 512 bytes (deque blocks, larger dicts and sets, strings) from the C
library's malloc, and glibc returns free memory to the system only from the top of its heap:
what a peak freed between blocks that stay (a connect storm's pending writes, a replay's
backlog, a fleet of chargers that left) would stay in the LC's RSS for good. Measured: after
2,000 chargers left, 13 MiB were given back; with the chargers connected and exchanging frames
there is little to give (1 MiB), and a release then costs ~0.2 ms (~10 ms with 60 MiB free).

So the free pages are given back when the links freeze or are reclaimed (supervision/gc_freeze.py)
and every `RELEASE_INTERVAL_S`. Elsewhere than on glibc (musl has no `malloc_trim`) this does
nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
from collections.abc import Callable

# A release walks the heap's free blocks: a few ms at most, once a minute.
RELEASE_INTERVAL_S = 60.0


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        # The C library the interpreter runs on: its symbols are the process's own.
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    release: Callable[[int], int] = trim
    return release


_MALLOC_TRIM = _find_malloc_trim()


def release_free_heap() -> bool:
    """Return the free pages of the C heap to the system; False where it cannot be done."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)  # 0: keep no spare at the top of the heap
    return True


class HeapReleaser:
    """Releases the C heap's free pages every `interval_s` (not at all where it cannot)."""

    def __init__(self, interval_s: float = RELEASE_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(interval_s, self._release)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _release(self) -> None:
        released = release_free_heap()
        self._timer = self._loop.call_later(self._interval_s, self._release) if released else None
