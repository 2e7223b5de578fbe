"""Reset of the LC itself (B11/B12) with the LC run by its launcher as a real process: the
answer first, the restart, the boot reason at the CSMS, and `hold` losing nothing: chargers in
transactions send while the CSMS is away, the LC restarts, they come back and send more, and
every frame reaches the CSMS once the CSMS is back, in order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v201 import call as call201

from tests.peers import Csms, running, wait_until
from tests.router.test_hold_crash import (
    CHARGERS,
    Charger,
    _all_delivered,
    _chargers_in_sessions,
    _csms_links_down,
    _traffic,
    back_after_restart,
)
from tests.station.csms_for_lc import IDENTITY, CsmsForLc
from tests.station.launched_lc import LaunchedLc, boot_reasons

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def garage(tmp_path: Path) -> AsyncIterator[tuple[Csms, CsmsForLc, LaunchedLc]]:
    chargers_csms = Csms(passwords={identity: f"pw-{identity}" for identity, _ in CHARGERS})
    await chargers_csms.start()
    async with running(CsmsForLc()) as csms:
        lc = LaunchedLc(tmp_path, chargers_csms.url, csms)
        await lc.start()
        try:
            await wait_until(lambda: boot_reasons(csms) == ["PowerUp"], 20, "the first boot")
            yield chargers_csms, csms, lc
        finally:
            await lc.stop()
            await chargers_csms.stop()


async def _reset(csms: CsmsForLc, kind: str, evse_id: int | None = None) -> str:
    answer = await csms.connected(IDENTITY).call(call201.Reset(type=kind, evse_id=evse_id))
    return str(answer.status)


async def held_frames(chargers_csms: Csms, lc: LaunchedLc) -> list[Charger]:
    """Chargers in transactions, the CSMS gone, frames answered by the LC and journaled."""
    chargers = await _chargers_in_sessions(lc)
    await chargers_csms.stop()
    await _csms_links_down(lc)
    await _traffic(chargers, 3)
    return chargers


async def test_an_immediate_reset_restarts_the_lc_and_hold_loses_nothing(
    garage: tuple[Csms, CsmsForLc, LaunchedLc],
) -> None:
    chargers_csms, csms, lc = garage
    chargers = await held_frames(chargers_csms, lc)
    assert await _reset(csms, "Immediate") == "Accepted"
    await wait_until(lambda: boot_reasons(csms) == ["PowerUp", "RemoteReset"], 30, "the reboot")
    assert lc.process is not None and lc.process.returncode is None  # the same launcher
    # Their links dropped with the old process: back to the new one.
    await back_after_restart(chargers_csms, chargers)
    assert "security event ResetOrReboot" in lc.log()


async def test_on_idle_waits_for_the_journal_to_be_flushed_then_restarts(
    garage: tuple[Csms, CsmsForLc, LaunchedLc],
) -> None:
    chargers_csms, csms, lc = garage
    chargers = await held_frames(chargers_csms, lc)
    assert await _reset(csms, "OnIdle", evse_id=1) == "Rejected"  # the LC has no EVSE to reset
    assert await _reset(csms, "OnIdle") == "Scheduled"  # the journal holds frames for the CSMS
    assert boot_reasons(csms) == ["PowerUp"]
    await chargers_csms.start(chargers_csms.port)
    await wait_until(
        lambda: boot_reasons(csms) == ["PowerUp", "ScheduledReset"], 30, "the scheduled reboot"
    )
    await _all_delivered(chargers_csms, chargers)


async def test_a_plain_stop_and_start_boots_as_power_up(
    garage: tuple[Csms, CsmsForLc, LaunchedLc],
) -> None:
    _chargers_csms, csms, lc = garage
    await lc.stop()
    assert lc.process is not None and lc.process.returncode == 0
    await lc.start()
    await wait_until(lambda: boot_reasons(csms) == ["PowerUp", "PowerUp"], 20, "the second boot")
