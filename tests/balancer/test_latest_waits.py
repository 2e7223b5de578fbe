"""One call in flight per key, and only the latest item waiting for it."""

from __future__ import annotations

from balancer.latest_waits import LatestWaits


def test_only_the_latest_item_waits_for_the_call_in_flight() -> None:
    calls: LatestWaits[float] = LatestWaits()
    assert not calls.waits("CP-A/1", 16.0)  # nothing in flight: it goes out at once
    calls.sending("CP-A/1")
    assert calls.waits("CP-A/1", 12.0)
    assert calls.waits("CP-A/1", 8.0)
    assert not calls.waits("CP-B/1", 10.0)  # another EVSE's calls are its own
    assert calls.ended("CP-A/1") == 8.0
    assert not calls.waits("CP-A/1", 8.0)  # offered again, it goes out
    calls.sending("CP-A/1")
    assert calls.ended("CP-A/1") is None
