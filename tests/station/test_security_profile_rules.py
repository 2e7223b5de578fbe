"""A 1.6 CSMS's raise of the LC's security profile (whitepaper A05), pure: when it is refused,
how slot 1 is dialled with it, given up, kept, and forgotten once the config file changes."""

from __future__ import annotations

from pathlib import Path

from station.network_profiles import Capabilities, NetworkProfile, NetworkProfiles
from station.security_profile import Prerequisites, refusal

EVERYTHING = Prerequisites(password=True, csms_root=True, client_certificate=True)
CONFIGURED = NetworkProfile("ws://csms.example.net:8080/ocpp/LC-1", 1, 30.0)


def test_a_raise_is_refused_unless_above_and_its_prerequisites_hold() -> None:
    assert refusal("2", 1, EVERYTHING) is None
    assert refusal("3", 2, EVERYTHING) is None
    for text, current in (("1", 1), ("1", 2), ("0", 1), ("4", 1), ("two", 1)):
        assert refusal(text, current, EVERYTHING) is not None
    no_password = Prerequisites(password=False, csms_root=True, client_certificate=True)
    assert refusal("2", 1, no_password) is not None  # A05.FR.02
    assert refusal("3", 1, no_password) is None  # profile 3 sends no password
    no_root = Prerequisites(password=True, csms_root=False, client_certificate=True)
    assert refusal("2", 1, no_root) is not None and refusal("3", 2, no_root) is not None
    no_certificate = Prerequisites(password=True, csms_root=True, client_certificate=False)
    assert refusal("2", 1, no_certificate) is None
    assert refusal("3", 2, no_certificate) is not None  # A05.FR.04


def _profiles(path: Path, configured: NetworkProfile = CONFIGURED) -> NetworkProfiles:
    return NetworkProfiles(path, configured, "LC-1", Capabilities(True, False), default_attempts=2)


def test_a_raise_dials_over_tls_is_kept_once_connected_and_forgotten_with_a_new_config(
    tmp_path: Path,
) -> None:
    path = tmp_path / "profiles.json"
    profiles = _profiles(path)
    profiles.raise_security(2)
    assert profiles.profile(1).url == "wss://csms.example.net:8080/ocpp/LC-1"
    assert profiles.active.security_profile == 1  # not connected with it yet
    assert profiles.wanted_security == 2
    profiles.connected_with(1)
    assert profiles.active.security_profile == 2
    assert _profiles(path).profile(1).security_profile == 2  # after a restart
    moved = NetworkProfile("ws://other.example.net/ocpp/LC-1", 1, 30.0)
    assert _profiles(path, moved).profile(1) == moved  # the site manager's change wins


def test_a_raise_that_does_not_connect_is_given_up(tmp_path: Path) -> None:
    profiles = _profiles(tmp_path / "profiles.json")
    profiles.raise_security(2)
    profiles.dial_failed(1)
    assert profiles.profile(1).security_profile == 2  # one more try
    profiles.dial_failed(1)
    assert profiles.profile(1) == CONFIGURED  # A05.FR.08
    profiles.connected_with(1)
    assert _profiles(tmp_path / "profiles.json").profile(1) == CONFIGURED
