"""Which slot the LC dials (B10) and which profiles it takes (B09), without a network."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from station.dial_plan import DialPlan
from station.network_profiles import (
    Capabilities,
    InvalidProfile,
    NetworkProfile,
    NetworkProfiles,
    profile_from_request,
)

TLS_AND_PASSWORD = Capabilities(password=True, client_certificate=False)


def _request(slot: int, url: str, security: int) -> dict[str, Any]:
    data = {
        "ocppVersion": "OCPP20",
        "ocppTransport": "JSON",
        "ocppCsmsUrl": url,
        "messageTimeout": 20,
        "securityProfile": security,
        "ocppInterface": "Wireless0",
    }
    return {"configurationSlot": slot, "connectionData": data}


def _dialled(plan: DialPlan, failures: int) -> list[int]:
    slots = []
    for _ in range(failures):
        slots.append(plan.slot)
        plan.failed()
    return slots


def test_each_slot_gets_its_attempts_then_the_last_good_one_is_kept() -> None:
    plan = DialPlan([3, 2], attempts=2, last_connected=1)
    assert _dialled(plan, 6) == [3, 3, 2, 2, 1, 1]  # B10.FR.07: back to slot 1, and on to it
    assert not plan.connected()  # the same slot as before: no new registration
    plan.restart([3, 2], 2)  # the link lost: from the first entry again (B10.FR.03)
    assert plan.slot == 3
    assert plan.connected()  # another slot: a new BootNotification (B10.FR.10)


def test_without_a_good_slot_yet_the_list_is_tried_round_again() -> None:
    plan = DialPlan([2, 1], attempts=1, last_connected=None)
    assert _dialled(plan, 4) == [2, 1, 2, 1]


def test_each_round_of_failed_entries_is_told_once() -> None:
    """What a renewed client certificate gives way after (A02.FR.28)."""
    plan = DialPlan([2, 1], attempts=2, last_connected=None)
    assert [plan.failed() for _ in range(8)] == [False, False, False, True] * 2
    assert not plan.falling_back  # B10.FR.08: round the entries again
    plan = DialPlan([2], attempts=1, last_connected=1)
    assert [plan.failed() for _ in range(3)] == [True, False, False]
    assert plan.falling_back  # B10.FR.07: the last good one alone, from now on


def test_a_lower_security_profile_is_rejected_and_a_valid_one_kept(tmp_path: Path) -> None:
    path = tmp_path / "profiles.json"
    configured = NetworkProfile("wss://csms.example.net/ocpp/LC-1", 2, 30.0)
    profiles = NetworkProfiles(path, configured, "LC-1", TLS_AND_PASSWORD)
    downgrade = profiles.set_network_profile(_request(2, "ws://csms.example.net/ocpp", 1))
    assert downgrade["status"] == "Rejected"
    assert downgrade["statusInfo"]["reasonCode"] == "NoSecurityDowngrade"
    assert profiles.set_network_profile(_request(2, "wss://other.example.net/ocpp/", 2)) == {
        "status": "Accepted"
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    profiles.set_priority([2, 1])
    profiles.connected_with(2)

    restarted = NetworkProfiles(path, configured, "LC-1", TLS_AND_PASSWORD)
    assert restarted.priority == [2, 1] and restarted.last_connected == 2
    assert restarted.active == NetworkProfile(
        "wss://other.example.net/ocpp/LC-1", 2, 20.0, "Wireless0"
    )


@pytest.mark.parametrize(
    ("request_", "can"),
    [
        (_request(2, "wss://h/ocpp", 2), Capabilities(password=False, client_certificate=True)),
        (_request(2, "wss://h/ocpp", 3), TLS_AND_PASSWORD),
        (_request(2, "ws://h:99999/ocpp", 1), TLS_AND_PASSWORD),
    ],
    ids=["profile 2 without a password", "profile 3 without a certificate", "bad port"],
)
def test_a_profile_the_lc_cannot_use_is_invalid(
    request_: dict[str, Any], can: Capabilities
) -> None:
    with pytest.raises(InvalidProfile) as refused:
        profile_from_request(request_, "LC-1", 1, can)
    assert refused.value.reason == "InvalidNetworkConf"
