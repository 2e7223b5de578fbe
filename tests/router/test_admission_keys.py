"""Whose handshake budget a source spends: an IPv6 host picks any address in its /64, so the
budget is per /64 there; an IPv4 address keeps its own (pure: addresses and times in)."""

from __future__ import annotations

import pytest

from router.admission import AdmissionSettings, HandshakeAdmission, rate_key


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:a1b2:c3d4:e5f6:789", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),  # the next /64: another host
        ("2001:DB8:1:2:0:0:0:FFFF", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),  # IPv4 on a dual-stack socket
        ("::1", "::/64"),
        ("unknown", "unknown"),
    ],
)
def test_a_source_is_keyed_by_its_address_or_its_ipv6_slash_64(source: str, key: str) -> None:
    assert rate_key(source) == key


def test_addresses_of_one_ipv6_slash_64_share_one_budget() -> None:
    admission = HandshakeAdmission(AdmissionSettings(per_source_rate=1.0, per_source_burst=2))
    rotating = [f"2001:db8:1:2::{index:x}" for index in range(1, 4)]
    assert admission.begin(rotating[0], 0.0) is None
    assert admission.begin(rotating[1], 0.0) is None
    # A fresh address of the same /64 finds the budget spent.
    assert admission.begin(rotating[2], 0.0) == "source_rate"
    # Another /64 and an IPv4 address have budgets of their own.
    assert admission.begin("2001:db8:1:3::1", 0.0) is None
    assert admission.begin("192.0.2.7", 0.0) is None
    assert admission.begin("192.0.2.8", 0.0) is None


def test_ipv4_addresses_keep_their_own_budgets() -> None:
    admission = HandshakeAdmission(AdmissionSettings(per_source_rate=1.0, per_source_burst=1))
    assert admission.begin("192.0.2.7", 0.0) is None
    assert admission.begin("192.0.2.8", 0.0) is None
    assert admission.begin("192.0.2.7", 0.0) == "source_rate"
