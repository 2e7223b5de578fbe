"""A01 on the LC's own link: a CSMS built on the PyPI `ocpp` package that checks HTTP Basic
auth rotates the LC's password with SetVariables; the LC reconnects with it, keeps it across
a restart in a private file, and never shows it."""

from __future__ import annotations

import base64
import logging
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from station.link import StationLink
from station.session import LinkState
from tests.peers import running, wait_until
from tests.station.csms16_for_lc import CsmsForLc16
from tests.station.csms_for_lc import IDENTITY, CsmsForLc, accepted_lc, station_config

pytestmark = pytest.mark.timeout(60)

LC_LOGGERS = ("lc", "router", "station", "certificates", "supervision")
OLD = "old-password-0123456789"
NEW = "new-password-abcdefghij"


@dataclass
class BasicAuthCsms(CsmsForLc):
    """Lets in only the LC's identity with one of `passwords`; records what each dial
    presented."""

    passwords: set[str] = field(default_factory=lambda: {OLD})
    presented: list[str | None] = field(default_factory=list)

    def check_request(self, ws: ServerConnection, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        self.presented.append(password if header else None)
        if user == IDENTITY and password in self.passwords:
            return None
        return ws.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")


@dataclass
class BasicAuthCsms16(BasicAuthCsms, CsmsForLc16):
    """A 1.6 CSMS checking Basic auth the same way."""

    subprotocol: str = "ocpp1.6"  # BasicAuthCsms's fields would give CsmsForLc's


@pytest.fixture
async def csms() -> AsyncIterator[BasicAuthCsms]:
    async with running(BasicAuthCsms()) as server:
        yield server


def _password(value: str) -> dict[str, Any]:
    return {
        "component": {"name": "SecurityCtrlr"},
        "variable": {"name": "BasicAuthPassword"},
        "attribute_value": value,
    }


async def _rotate(csms: BasicAuthCsms, value: str) -> str:
    answer = await csms.station.call(call201.SetVariables(set_variable_data=[_password(value)]))
    [result] = answer.set_variable_result
    status: str = result["attribute_status"]
    return status


def _modes_of_files_holding(folder: Path, secret: str) -> list[int]:
    return [
        stat.S_IMODE(path.stat().st_mode)
        for path in folder.iterdir()
        if path.is_file() and secret.encode() in path.read_bytes()
    ]


async def _reconnected(csms: BasicAuthCsms, link: StationLink, connections: int) -> None:
    await wait_until(lambda: len(csms.connections) > connections, 10, "a new connection")
    await wait_until(lambda: link.session.state is LinkState.ACCEPTED, 10, "Accepted again")


async def test_the_csms_rotates_the_password_and_the_lc_reconnects_with_it_after_a_restart(
    csms: BasicAuthCsms, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = station_config(csms, tmp_path, password=OLD)
    async with accepted_lc(config) as (lc, link):
        csms.passwords = {NEW}  # A01.FR.03: the CSMS takes the change as done
        assert await _rotate(csms, NEW) == "Accepted"
        await _reconnected(csms, link, 1)
        assert csms.presented == [OLD, NEW]
        # Write-only: the CSMS cannot read it back.
        got = await csms.station.call(
            call201.GetVariables(
                get_variable_data=[
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                    }
                ]
            )
        )
        assert got.get_variable_result[0]["attribute_status"] == "Rejected"
        assert "attribute_value" not in got.get_variable_result[0]
        # A01.FR.11: the change is in the security log, without the password (A01.FR.12).
        changes = [
            e
            for e in lc.security.events.log.events
            if e.type == "ReconfigurationOfSecurityParameters"
        ]
        assert len(changes) == 1 and NEW not in changes[0].tech_info
    assert _modes_of_files_holding(tmp_path, NEW) == [0o600]
    # The config file still says OLD: the CSMS's later change applies after a restart.
    async with accepted_lc(config) as (_lc, _link):
        assert csms.presented[-1] == NEW
    # The LC's own log lines (the CSMS's side here logs its frames) hold neither password.
    lines = [r.getMessage() for r in caplog.records if r.name.split(".")[0] in LC_LOGGERS]
    assert lines and not [line for line in lines if NEW in line or OLD in line]


async def test_a_password_outside_16_to_40_characters_is_rejected_and_the_link_stays(
    csms: BasicAuthCsms, tmp_path: Path
) -> None:
    async with accepted_lc(station_config(csms, tmp_path, password=OLD)) as (_lc, link):
        assert await _rotate(csms, "too-short") == "Rejected"
        assert await _rotate(csms, "x" * 41) == "Rejected"
        assert await _rotate(csms, "ünicode-password-0123") == "Rejected"
        assert link.settings.password == OLD
        assert len(csms.stations) == 1


async def test_a_new_password_the_csms_refuses_is_a_security_event(
    csms: BasicAuthCsms, tmp_path: Path
) -> None:
    async with accepted_lc(station_config(csms, tmp_path, password=OLD)) as (lc, _link):
        # A CSMS that did not take the change: the LC keeps the new password (A01.FR.03, the
        # old one is void) and says that the CSMS refuses it.
        assert await _rotate(csms, NEW) == "Accepted"
        await wait_until(lambda: csms.presented[-1:] == [NEW], 10, "a dial with the new password")
        events = lc.security.events.log.events
        await wait_until(
            lambda: any(e.type == "FailedToAuthenticateAtCsms" for e in events), 10, "the event"
        )
        assert len(csms.stations) == 1  # no connection since


async def test_a_password_the_site_manager_changes_in_the_config_file_wins(
    csms: BasicAuthCsms, tmp_path: Path
) -> None:
    async with accepted_lc(station_config(csms, tmp_path, password=OLD)):
        csms.passwords = {NEW}
        assert await _rotate(csms, NEW) == "Accepted"
        await wait_until(lambda: csms.presented[-1:] == [NEW], 10, "a dial with the new password")
    edited = "edited-in-the-file-0123"
    csms.passwords = {edited}
    async with accepted_lc(station_config(csms, tmp_path, password=edited)):
        assert csms.presented[-1] == edited


async def test_a_16_csms_rotates_the_password_as_authorization_key(tmp_path: Path) -> None:
    async with (
        running(BasicAuthCsms16()) as csms,
        accepted_lc(station_config(csms, tmp_path, password=OLD, ocpp_version="1.6")) as (
            _lc,
            link,
        ),
    ):
        csms.passwords = {NEW}
        change = call16.ChangeConfiguration(key="AuthorizationKey", value=NEW)
        assert (await csms.station16.call(change)).status == "Accepted"
        await _reconnected(csms, link, 1)
        assert csms.presented == [OLD, NEW]
        got = await csms.station16.call(call16.GetConfiguration(key=["AuthorizationKey"]))
        assert got.configuration_key == [{"key": "AuthorizationKey", "readonly": False}]
