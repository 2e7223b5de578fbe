"""What the LC learns from the CSMS's answers: an id token's expiry is read as OCPP time."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from router.learned_answers import authorization_learned


@pytest.mark.parametrize(
    "expiry",
    ["2026-11-25T11:00:00Z", "2026-11-25T11:00:00+00:00", "2026-11-25T12:00:00+01:00"],
)
def test_an_expiry_with_an_offset_is_that_moment(expiry: str) -> None:
    learned = authorization_learned({"idTag": "T"}, {"idTagInfo": {"expiryDate": expiry}})
    assert learned is not None
    assert learned[2] == datetime(2026, 11, 25, 11, tzinfo=UTC).timestamp()


def test_an_expiry_without_an_offset_is_utc_whatever_the_hosts_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # OCPP times are UTC; a CSMS that leaves the offset out still means UTC, not the LC's zone.
    monkeypatch.setenv("TZ", "EST+5")  # POSIX form: no time zone database needed
    time.tzset()
    try:
        info = {"idTokenInfo": {"status": "Accepted", "cacheExpiryDateTime": "2026-11-25T11:00:00"}}
        learned = authorization_learned({"idToken": {"idToken": "T", "type": "ISO14443"}}, info)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert learned is not None
    assert learned[2] == datetime(2026, 11, 25, 11, tzinfo=UTC).timestamp()


def test_an_expiry_that_is_not_a_time_is_none() -> None:
    learned = authorization_learned({"idTag": "T"}, {"idTagInfo": {"expiryDate": "soon"}})
    assert learned is not None and learned[2] is None
