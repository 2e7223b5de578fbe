"""Reset and the LC's own update from a 1.6 CSMS (PyPI `ocpp` v16), the LC run by its launcher
as a real process: Hard restarts it; Soft waits until `hold` has delivered what it journaled
(the status page says so), then restarts; UpdateFirmware installs a release whose signature beside
it checks with the configured release-signing key, and refuses one whose signature does not."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from ocpp.v16 import call as call16

from ocpp_knowledge.ocpp_time import to_ocpp_time
from station.config import package_version
from tests.peers import Csms, running, wait_until, wait_until_async
from tests.router.test_hold_crash import CHARGERS, _all_delivered
from tests.station.csms16_for_lc import CsmsForLc16
from tests.station.launched_lc import LaunchedLc
from tests.station.test_reset_process import held_frames
from tests.station.test_self_update_process import NEW_VERSION, built_release, key_file

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


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
    tmp_path: Path, signing_key: ec.EllipticCurvePrivateKey, chargers_csms: Csms
) -> AsyncIterator[tuple[CsmsForLc16, LaunchedLc]]:
    public = tmp_path / "release-signing.pub.pem"
    public.write_bytes(
        signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    async with running(CsmsForLc16()) as csms:
        extra = f'ocpp_version = "1.6"\nrelease_signing_key = "{public}"\n'
        lc = LaunchedLc(tmp_path, chargers_csms.url, csms, extra)
        await lc.start()
        try:
            await wait_until(lambda: len(_boots(csms)) == 1, 20, "the first boot")
            yield csms, lc
        finally:
            await lc.stop()


def _boots(csms: CsmsForLc16) -> list[str]:
    """The firmware version of each BootNotification, over every connection."""
    return [boot["firmware_version"] for station in csms.stations16 for boot in station.boots]


@contextlib.asynccontextmanager
async def _files(folder: Path) -> AsyncIterator[str]:
    """`folder` served over HTTP on 127.0.0.1; its base URL."""
    app = web.Application()
    app.router.add_static("/", folder)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


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


async def _update(csms: CsmsForLc16, location: str) -> None:
    now = to_ocpp_time(datetime.now(UTC))
    request = call16.UpdateFirmware(location=location, retrieve_date=now, retries=0)
    await csms.station16.call(request)


async def test_a_release_signed_with_the_configured_key_is_installed_and_booted(
    setting: tuple[CsmsForLc16, LaunchedLc], tmp_path: Path, signing_key: ec.EllipticCurvePrivateKey
) -> None:
    csms, _lc = setting
    key = key_file(signing_key, tmp_path)
    release, _signature = await built_release(tmp_path, key)  # the .sig beside it
    async with _files(release.parent) as base:
        await _update(csms, f"{base}/{release.name}")
        await wait_until(lambda: "Installed" in csms.firmware_statuses, 90, "Installed")
    assert csms.firmware_statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert _boots(csms) == [package_version(), NEW_VERSION]


async def test_a_release_the_key_did_not_sign_is_refused(
    setting: tuple[CsmsForLc16, LaunchedLc], tmp_path: Path
) -> None:
    csms, lc = setting
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "lc.tar.gz").write_bytes(b"a release")
    (folder / "lc.tar.gz.sig").write_text("c2lnbmVkIGJ5IHNvbWVvbmUgZWxzZQ==\n")
    async with _files(folder) as base:
        await _update(csms, f"{base}/lc.tar.gz")
        await wait_until(lambda: "InstallationFailed" in csms.firmware_statuses, 30, "refused")
    assert csms.firmware_statuses == ["Downloading", "Downloaded", "InstallationFailed"]
    assert "security event InvalidFirmwareSignature" in lc.log()
    assert len(_boots(csms)) == 1
    metrics = await lc.fetch("/metrics")
    assert 'ocpp_lc_self_update_total{outcome="invalid_signature"} 1.0' in metrics
