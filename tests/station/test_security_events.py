"""The LC's security log end to end: a PyPI-ocpp CSMS for the LC's own identity hears the
critical events, also those raised while it was away (a charger's bad TLS certificate, a
CSMS certificate that does not verify), in their order; the log survives a restart; an LC
without an identity at the CSMS keeps the log all the same."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import aiohttp
import pytest
import websockets
from aiohttp import web
from websockets.typing import Subprotocol

from lc.app import LocalController
from lc.config import parse_config
from lc.security import LOG_FILE
from lc.status_page import render
from station.session import LinkState
from tests.conftest import lc_site_config, lc_url
from tests.peers import Csms, connect_charge_point, wait_until
from tests.router.test_tls import Pki
from tests.station.csms_for_lc import CsmsForLc, accepted_lc, station_config

pytestmark = pytest.mark.timeout(90)


def _heard(csms: CsmsForLc) -> list[str]:
    return [event["type"] for event in csms.security_events]


def _kept(lc: LocalController) -> list[str]:
    return [event.type for event in lc.security.events.log.events]


async def _metrics(lc: LocalController) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{lc.metrics_port}/metrics") as response,
    ):
        return await response.text()


async def test_critical_events_reach_the_csms_and_every_event_is_kept(
    csms: CsmsForLc, tmp_path: Path
) -> None:
    async with accepted_lc(station_config(csms, tmp_path)) as (lc, link):
        await wait_until(lambda: _heard(csms) == ["StartupOfTheDevice"], 10, "the start-up")
        # The CSMS's clock jumps an hour: SettingSystemTime, critical.
        csms.clock_offset_s = 3600
        await link.call("Heartbeat", {})
        await wait_until(lambda: "SettingSystemTime" in _heard(csms), 10, "SettingSystemTime")
        # A charger sends a frame that is no OCPP: InvalidMessages, kept but not critical.
        async with websockets.connect(
            f"{lc_url(lc.router)}/ocpp/CP-1", subprotocols=[Subprotocol("ocpp2.0.1")]
        ) as charger:
            await charger.send("this is not OCPP")
            await wait_until(lambda: "InvalidMessages" in _kept(lc), 10, "InvalidMessages")
        assert _heard(csms) == ["StartupOfTheDevice", "SettingSystemTime"]
        jump = csms.security_events[1]
        assert "+3600 s" in jump["tech_info"]
        assert jump["timestamp"].endswith("Z")
        page = render(await lc.status())
        assert "<h2>Security log</h2>" in page
        assert "CP-1: " in page and "InvalidMessages" in page
        metrics = await _metrics(lc)
        assert 'ocpp_lc_security_events_total{type="InvalidMessages"} 1.0' in metrics
        assert "ocpp_lc_security_events_unsent 0.0" in metrics


async def test_certificate_events_raised_while_the_csms_is_away_reach_it_after_reconnect(
    csms: CsmsForLc, tmp_path: Path
) -> None:
    for folder in ("pki", "rogue"):
        (tmp_path / folder).mkdir()
    pki, rogue = Pki(tmp_path / "pki"), Pki(tmp_path / "rogue")
    # The chargers' CSMS presents a certificate of a CA the LC does not trust.
    impostor = Csms(ssl_context=rogue.server_context())
    await impostor.start()
    config = parse_config(station_config(csms, tmp_path))
    router = dataclasses.replace(
        config.router,
        upstream_url=f"wss://127.0.0.1:{impostor.port}",
        server_ssl=pki.lc_charger_side(profile_3=True),
        upstream_ssl=pki.lc_csms_side(),
    )
    lc = LocalController(dataclasses.replace(config, router=router))
    link = lc.station
    assert link is not None
    try:
        await lc.start()
        await wait_until(lambda: link.session.state is LinkState.ACCEPTED, 30, "Accepted")
        await wait_until(lambda: _heard(csms) == ["StartupOfTheDevice"], 30, "the start-up")
        await csms.stop()
        await wait_until(lambda: link.session.state is LinkState.DISCONNECTED, 30, "away")
        url = f"wss://127.0.0.1:{lc.router.port}"
        # A charger whose certificate the LC's charger CA did not issue.
        stranger = pki.client_context(rogue.issue("CP-1", "cp-1"))
        with pytest.raises((OSError, websockets.WebSocketException)):
            await connect_charge_point(url, "CP-1", "ocpp2.0.1", ssl_context=stranger)
        # A charger the LC admits: its CSMS link meets the impostor's certificate.
        admitted = pki.client_context(pki.issue("CP-2", "cp-2"))
        with pytest.raises(websockets.WebSocketException):
            await connect_charge_point(url, "CP-2", "ocpp2.0.1", ssl_context=admitted)
        expected = ["InvalidChargingStationCertificate", "InvalidCsmsCertificate"]
        await wait_until(lambda: _kept(lc)[-2:] == expected, 30, "both events kept")
        assert _heard(csms) == ["StartupOfTheDevice"]
        await csms.start()
        await wait_until(lambda: len(_heard(csms)) == 3, 60, "the events after reconnect")
        assert _heard(csms) == ["StartupOfTheDevice", *expected]
        assert "certificate verify failed" in csms.security_events[2]["tech_info"]
    finally:
        await lc.stop()
        await impostor.stop()


async def test_the_log_survives_a_restart_and_what_the_csms_missed_follows(
    csms: CsmsForLc, tmp_path: Path
) -> None:
    config = station_config(csms, tmp_path)
    async with accepted_lc(config) as (_lc, link):
        await wait_until(lambda: _heard(csms) == ["StartupOfTheDevice"], 10, "the start-up")
        await csms.stop()
        await wait_until(lambda: link.session.state is LinkState.DISCONNECTED, 10, "away")
    # Stopped while the CSMS was away: its ResetOrReboot waits in the file.
    stored = tmp_path / LOG_FILE
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    await csms.start()
    async with accepted_lc(config) as (lc, _link):
        await wait_until(lambda: len(_heard(csms)) == 3, 20, "the events of both runs")
        assert _heard(csms) == ["StartupOfTheDevice", "ResetOrReboot", "StartupOfTheDevice"]
        assert _kept(lc) == ["StartupOfTheDevice", "ResetOrReboot", "StartupOfTheDevice"]


async def test_without_an_identity_at_the_csms_the_log_is_kept_beside_the_journal(
    tmp_path: Path,
) -> None:
    lc = LocalController(lc_site_config("ws://127.0.0.1:9", tmp_path))
    await lc.start()
    try:
        assert _kept(lc) == ["StartupOfTheDevice"]
        assert "StartupOfTheDevice" in render(await lc.status())
    finally:
        await lc.stop()
    again = LocalController(lc_site_config("ws://127.0.0.1:9", tmp_path))
    await again.start()
    try:
        assert _kept(again) == ["StartupOfTheDevice", "ResetOrReboot", "StartupOfTheDevice"]
    finally:
        await again.stop()
    assert (tmp_path / LOG_FILE).exists()


async def test_a_csms_refusing_the_lcs_credentials_is_one_event_however_often_it_redials(
    tmp_path: Path,
) -> None:
    refusals = 0

    async def refuse(_request: web.Request) -> web.Response:
        nonlocal refusals
        refusals += 1
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="csms"'})

    app = web.Application()
    app.router.add_get("/ocpp/{identity}", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    refusing = CsmsForLc(port=runner.addresses[0][1])  # only its URLs: it is not started
    lc = LocalController(parse_config(station_config(refusing, tmp_path)))
    try:
        await lc.start()
        await wait_until(lambda: refusals >= 3, 10, "three refused dials")
        refused = [e for e in lc.security.events.log.events if e.type != "StartupOfTheDevice"]
        assert [e.type for e in refused] == ["FailedToAuthenticateAtCsms"]
        assert "http_401" in refused[0].tech_info
    finally:
        await lc.stop()
        await runner.cleanup()


async def test_invalid_frames_from_the_csms_on_the_lcs_own_link_are_kept(
    csms: CsmsForLc, tmp_path: Path
) -> None:
    async with accepted_lc(station_config(csms, tmp_path)) as (lc, _link):
        connection = csms.connections[-1]
        await connection.ws.send("not a frame")
        await connection.ws.send('[2, "bad-1", "GetLog", {"logType": "SecurityLog"}]')
        await wait_until(lambda: _kept(lc).count("InvalidMessages") == 2, 10, "both kept")
        invalid = [e.tech_info for e in lc.security.events.log.events if e.critical is False]
        assert invalid[0].startswith("from the CSMS: ")
        assert invalid[1].startswith("from the CSMS: GetLog: ")
        assert "InvalidMessages" not in _heard(csms)  # not critical: kept, not pushed
