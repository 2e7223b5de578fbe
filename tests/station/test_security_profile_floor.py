"""The LC's own 2.0.1 link never goes below the highest security profile it connected with
(A05.FR.06/07, A05.FR.10, B09.FR.04), across a restart too: two PyPI-`ocpp` CSMSs on
127.0.0.1, the second over TLS with a CA made here."""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import asdict
from pathlib import Path

import pytest

from lc.app import LocalController
from lc.config import parse_config
from station.network_profiles import Capabilities, NetworkProfile, NetworkProfiles
from station.security_profile import Prerequisites
from station.session import LinkState
from tests.certificates.ca import TestCa, pem
from tests.peers import running, wait_until
from tests.station.csms_for_lc import CsmsForLc, accepted_lc, station_config
from tests.station.test_network_profiles import _connection_data, _get_comm, _set_comm, _set_profile
from tests.station.test_security_settings import _read

pytestmark = pytest.mark.timeout(60)

PASSWORD = "a-password-of-24-chars!!"
PRIORITY = "NetworkConfigurationPriority"


async def test_once_over_profile_2_the_lc_never_dials_profile_1_again(tmp_path: Path) -> None:
    cso = TestCa("CSO Root")
    serving_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving_tls.load_cert_chain(*cso.issue_server(tmp_path))
    ca = tmp_path / "csms-ca.pem"
    ca.write_text(pem(cso.root))
    async with (
        running(CsmsForLc()) as plain,  # ws://: security profile 1
        running(CsmsForLc(ssl_context=serving_tls)) as secure,
    ):
        config = station_config(plain, tmp_path, password=PASSWORD)
        # The chargers' CSMS over TLS: its settings dial the LC's own wss:// profiles too.
        config["router"] |= {"upstream_url": secure.url(""), "upstream_tls": {"ca": str(ca)}}
        async with accepted_lc(config) as (_lc, link):
            over_tls = _connection_data(f"wss://127.0.0.1:{secure.port}/ocpp", security_profile=2)
            assert (await _set_profile(plain, 2, over_tls)).status == "Accepted"
            assert await _set_comm(plain, "NetworkProfileConnectionAttempts", "1") == ("Accepted")
            # A05's migration: the new profile first, the one in use second.
            assert await _set_comm(plain, PRIORITY, "2,1") == ("Accepted")
            await wait_until(
                lambda: secure.stations and link.session.state is LinkState.ACCEPTED,
                20,
                "at the CSMS over TLS",
            )
            # A05.FR.06: slot 1 (profile 1) is out of the priority now.
            assert await _get_comm(secure, PRIORITY) == "2"
            assert await _read(secure, "SecurityProfile") == ["2"]
            # A05.FR.10 and B09.FR.04: nothing below profile 2 is taken.
            for priority in ("2,1", "1"):
                status = await _set_comm(secure, PRIORITY, priority)
                assert status == "Rejected"
            back = _connection_data(f"ws://127.0.0.1:{plain.port}/ocpp")
            answer = await _set_profile(secure, 3, back)
            assert answer.status == "Rejected"
            assert answer.status_info["reason_code"] == "NoSecurityDowngrade"
            dialled_plain = len(plain.connections)
        await secure.stop()

        # Restarted with the TLS CSMS gone: the LC keeps dialling its address, never slot 1.
        dials = 0

        async def refuse(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal dials
            dials += 1
            writer.close()

        gone = await asyncio.start_server(refuse, "127.0.0.1", secure.port)
        try:
            restarted = LocalController(parse_config(config))
            await restarted.start()
            try:
                await wait_until(lambda: dials >= 4, 20, "the LC redialling the TLS address")
            finally:
                await restarted.stop()
            assert len(plain.connections) == dialled_plain
        finally:
            gone.close()
            await gone.wait_closed()


CONFIGURED = NetworkProfile("ws://csms.example.net/ocpp/LC-1", 1, 30.0)
OVER_TLS = NetworkProfile("wss://csms.example.net/ocpp/LC-1", 2, 30.0)
NOTHING_FOR_A_RAISE = Prerequisites(password=True, csms_root=False, client_certificate=False)


def _profiles(path: Path, configured: NetworkProfile = CONFIGURED) -> NetworkProfiles:
    return NetworkProfiles(path, configured, "LC-1", Capabilities(True, False))


def test_only_the_site_manager_lowers_the_floor_by_changing_slot_1(tmp_path: Path) -> None:
    path = tmp_path / "profiles.json"
    profiles = _profiles(path)
    profiles.store(2, OVER_TLS)
    profiles.set_priority([2, 1])
    profiles.connected_with(2)
    assert profiles.priority == [2] and profiles.floor == 2
    restarted = _profiles(path)
    assert restarted.priority == [2] and restarted.floor == 2
    with pytest.raises(ValueError, match="below security profile 2"):
        restarted.priority_from("2,1", NOTHING_FOR_A_RAISE)
    # Another CSMS address in the config file: dialled first, at its own profile.
    moved = _profiles(path, NetworkProfile("ws://other.example.net/ocpp/LC-1", 1, 30.0))
    assert moved.priority == [1, 2] and moved.floor == 1
    assert moved.priority_from("1", NOTHING_FOR_A_RAISE) == [1]


def test_a_file_of_an_earlier_release_gets_the_floor_of_its_last_connection(
    tmp_path: Path,
) -> None:
    path = tmp_path / "profiles.json"
    earlier = {
        "slots": {"2": asdict(OVER_TLS)},
        "priority": [2, 1],
        "attempts": 3,
        "last_connected": 2,
        "raised": None,
    }
    path.write_text(json.dumps(earlier))
    profiles = _profiles(path)
    assert profiles.priority == [2] and profiles.floor == 2
