"""Reset from a 1.6 CSMS (PyPI `ocpp` v16), the LC run by its launcher as a real process: Hard
restarts it; Soft waits until `hold` has delivered what it journaled (the status page says so),
then restarts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v16 import call as call16

from tests.peers import Csms, running, wait_until, wait_until_async
from tests.router.test_hold_crash import CHARGERS, _all_delivered
from tests.station.csms16_for_lc import CsmsForLc16
from tests.station.launched_lc import LaunchedLc
from tests.station.test_reset_process import held_frames

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def chargers_csms() -> AsyncIterator[Csms]:
    """The CSMS the LC routes the chargers to."""
    csms = Csms(passwords={identity: f"pw-{identity}" for identity, _ in CHARGERS})
    await csms.start()
    try:
        yield csms
    finally:
        await csms.stop()


@pytest.fixture
async def setting(
    tmp_path: Path, chargers_csms: Csms
) -> AsyncIterator[tuple[CsmsForLc16, LaunchedLc]]:
    async with running(CsmsForLc16()) as csms:
        lc = LaunchedLc(tmp_path, chargers_csms.url, csms, 'ocpp_version = "1.6"\n')
        await lc.start()
        try:
            await wait_until(lambda: len(_boots(csms)) == 1, 20, "the first boot")
            yield csms, lc
        finally:
            await lc.stop()


def _boots(csms: CsmsForLc16) -> list[str]:
    """The firmware version of each BootNotification, over every connection."""
    return [boot["firmware_version"] for station in csms.stations16 for boot in station.boots]


async def test_hard_reset_restarts_the_lc(setting: tuple[CsmsForLc16, LaunchedLc]) -> None:
    csms, lc = setting
    assert (await csms.station16.call(call16.Reset(type="Hard"))).status == "Accepted"
    await wait_until(lambda: len(_boots(csms)) == 2, 30, "the reboot")
    assert "security event ResetOrReboot" in lc.log()


async def test_soft_reset_waits_until_hold_delivered_its_journal_then_restarts(
    setting: tuple[CsmsForLc16, LaunchedLc], chargers_csms: Csms
) -> None:
    csms, lc = setting
    chargers = await held_frames(chargers_csms, lc)
    assert (await csms.station16.call(call16.Reset(type="Soft"))).status == "Accepted"

    async def waiting_shown() -> bool:
        found = re.search(
            r"Restarts when idle [^:]*: waiting for (\d+) journaled", await lc.fetch("/")
        )
        return found is not None and int(found[1]) > 0

    await wait_until_async(waiting_shown, 10, "the waiting reset on the status page")
    assert len(_boots(csms)) == 1  # not while the journal holds frames for the CSMS
    await chargers_csms.start(chargers_csms.port)
    await wait_until(lambda: len(_boots(csms)) == 2, 30, "the soft reboot")
    await _all_delivered(chargers_csms, chargers)
    assert "security event ResetOrReboot" in lc.log()
    assert "Restarts when idle" not in await lc.fetch("/")
