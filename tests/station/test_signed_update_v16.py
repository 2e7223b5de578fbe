"""The LC updates itself from a 1.6 CSMS with the security whitepaper's SignedUpdateFirmware
(its L01), run by its launcher as a real process: the same signed release, manufacturer root
and steps as 2.0.1's UpdateFirmware, reported with SignedFirmwareStatusNotification. 1.6's own
UpdateFirmware is answered NotSupported and starts nothing (L01.FR.20)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.v16 import call as call16

from ocpp_knowledge.ocpp_time import to_ocpp_time
from station.config import package_version
from tests.firmware.origin import origin_server
from tests.peers import running, wait_until
from tests.station.csms16_for_lc import CsmsForLc16
from tests.station.launched_lc import LaunchedLc
from tests.station.test_lifecycle_v16 import _boots
from tests.station.test_self_update_process import (
    NEW_VERSION,
    Manufacturer,
    _manufacturer,
    built_release,
    launched_with_manufacturer,
    mis_signed,
    signed_firmware,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def setting(tmp_path: Path) -> AsyncIterator[tuple[CsmsForLc16, LaunchedLc, Manufacturer]]:
    async with (
        running(CsmsForLc16()) as csms,
        launched_with_manufacturer(tmp_path, csms, 60, 'ocpp_version = "1.6"\n') as (
            lc,
            manufacturer,
        ),
    ):
        await wait_until(lambda: len(_boots(csms)) == 1, 20, "the first boot")
        yield csms, lc, manufacturer


async def _update(csms: CsmsForLc16, firmware: dict[str, str]) -> str:
    request = call16.SignedUpdateFirmware(
        request_id=7, firmware=firmware, retries=1, retry_interval=1
    )
    return str((await csms.station16.call(request)).status)


def _notices(csms: CsmsForLc16) -> list[tuple[str, Any]]:
    return [(n["status"], n.get("request_id")) for n in csms.signed_firmware_statuses]


async def _triggered(csms: CsmsForLc16) -> tuple[str, Any]:
    """The signed update's status, as ExtendedTriggerMessage asks for it."""
    heard = len(csms.signed_firmware_statuses)
    trigger = call16.ExtendedTriggerMessage(requested_message="FirmwareStatusNotification")
    assert (await csms.station16.call(trigger)).status == "Accepted"
    await wait_until(lambda: len(csms.signed_firmware_statuses) > heard, 10, "the triggered status")
    return _notices(csms)[-1]


async def test_a_signed_release_is_installed_and_the_lc_boots_into_it(
    setting: tuple[CsmsForLc16, LaunchedLc, Manufacturer], tmp_path: Path
) -> None:
    csms, lc, manufacturer = setting
    release, signature = await built_release(tmp_path, manufacturer.key_file(tmp_path))
    async with origin_server(release) as origin:
        firmware = signed_firmware(f"{origin.base_url}/fw.bin", manufacturer, signature)
        assert await _update(csms, firmware) == "Accepted"
        await wait_until(lambda: ("Installed", 7) in _notices(csms), 90, "Installed")
    assert _notices(csms) == [
        (status, 7)
        for status in (
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "Installing",
            "InstallRebooting",
            "Installed",
        )
    ]
    assert _boots(csms) == [package_version(), NEW_VERSION]
    assert "security event FirmwareUpdated" in lc.log()
    assert csms.firmware_statuses == []  # 1.6's own notification is not the signed update's
    assert await _triggered(csms) == ("Idle", None)  # L01.FR.28: Installed, then Idle


async def test_a_bad_signing_certificate_or_signature_is_refused(
    setting: tuple[CsmsForLc16, LaunchedLc, Manufacturer], tmp_path: Path
) -> None:
    csms, lc, manufacturer = setting
    release, signature = mis_signed(tmp_path, manufacturer)
    async with origin_server(release) as origin:
        location = f"{origin.base_url}/fw.bin"
        stranger = signed_firmware(location, _manufacturer("Someone Else's Root"), signature)
        assert await _update(csms, stranger) == "InvalidCertificate"
        assert await _update(csms, signed_firmware(location, manufacturer, signature)) == (
            "Accepted"
        )
        await wait_until(lambda: ("InvalidSignature", 7) in _notices(csms), 30, "refused")
    assert _notices(csms) == [("Downloading", 7), ("Downloaded", 7), ("InvalidSignature", 7)]
    assert await _triggered(csms) == ("InvalidSignature", 7)  # the last one, again
    logged = ("InvalidFirmwareSigningCertificate", "InvalidFirmwareSignature")
    await wait_until(
        lambda: all(f"security event {e}" in lc.log() for e in logged), 10, "the security events"
    )
    assert len(_boots(csms)) == 1


async def test_the_unsigned_16_update_firmware_is_not_supported_and_starts_nothing(
    setting: tuple[CsmsForLc16, LaunchedLc, Manufacturer], tmp_path: Path
) -> None:
    csms, lc, _manufacturer = setting
    release = tmp_path / "release.tar.gz"
    release.write_bytes(b"a release")
    async with origin_server(release) as origin:
        now = to_ocpp_time(datetime.now(UTC))
        plain = call16.UpdateFirmware(location=f"{origin.base_url}/fw.bin", retrieve_date=now)
        with pytest.raises(NotSupportedError):
            await csms.station16.call(plain, suppress=False)
        assert await _triggered(csms) == ("Idle", None)  # no update of its own under way
        trigger = call16.TriggerMessage(requested_message="FirmwareStatusNotification")
        assert (await csms.station16.call(trigger)).status == "Accepted"
        await wait_until(lambda: csms.firmware_statuses == ["Idle"], 10, "the 1.6 status")
        assert origin.ranges == []  # nothing downloaded
    assert "last update" not in (await lc.fetch("/")).lower()
    assert len(_boots(csms)) == 1
