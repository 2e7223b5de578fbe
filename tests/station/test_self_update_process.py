"""The LC updates itself (2.0.1 L01) when its CSMS says so, run by its launcher as a real
process: a release built by scripts/release and signed by a manufacturer's signing certificate
is downloaded from a local HTTP server, installed beside the running one and booted into; a bad
signature or signing certificate is refused; a release that cannot even start is rolled back
and the previous one boots again."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from ocpp.v201 import call as call201

from certificates.trust_store import TrustStore
from firmware.release_file import sign_file, write_release
from ocpp_knowledge.ocpp_time import to_ocpp_time
from station.config import package_version
from tests.certificates.ca import TestCa, name, pem
from tests.firmware.origin import origin_server
from tests.lc_process import REPO
from tests.peers import Csms, running, wait_until
from tests.station.csms_for_lc import IDENTITY, CsmsForLc
from tests.station.launched_lc import LaunchedLc, boot_reasons, own_calls

pytestmark = pytest.mark.timeout(180)

NEW_VERSION = "0.1.1+test"
RUNNING = package_version()


@dataclass
class Manufacturer:
    """The manufacturer's root (installed at the LC) and its firmware signing certificate."""

    ca: TestCa
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def key_file(self, folder: Path) -> Path:
        return key_file(self.key, folder)


def key_file(key: ec.EllipticCurvePrivateKey, folder: Path) -> Path:
    """The signing key as scripts/release reads it (--key)."""
    path = folder / "signing-key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _manufacturer(common_name: str) -> Manufacturer:
    ca = TestCa(common_name)
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name("Firmware Signing", "Manufacturer"))
        .sign(key, hashes.SHA256())
    )
    return Manufacturer(ca, key, ca.sign(request))


@pytest.fixture
def trial_s() -> float:
    """[station] release_trial_s: ample for a good release on a busy machine."""
    return 60


@contextlib.asynccontextmanager
async def launched_with_manufacturer(
    folder: Path, csms: CsmsForLc, trial_s: float, station: str = ""
) -> AsyncIterator[tuple[LaunchedLc, Manufacturer]]:
    """A launched LC at `csms` (`station`: more [station] settings) with [certificates], the
    manufacturer's root installed."""
    manufacturer = _manufacturer("Manufacturer Root")
    certificates = folder / "certificates"
    # As an installer may leave it: the LC keeps its releases to itself all the same.
    (folder / "releases").mkdir(mode=0o777)
    (folder / "releases").chmod(0o777)
    TrustStore(certificates / "trust").install(
        "ManufacturerRootCertificate", pem(manufacturer.ca.root), datetime.now(UTC)
    )
    chargers_csms = Csms()
    await chargers_csms.start()
    extra = (
        f"release_trial_s = {trial_s}\n{station}"  # still in [station]
        f'[certificates]\nfolder = "{certificates}"\norganization = "Test CSO"\n'
    )
    lc = LaunchedLc(folder, chargers_csms.url, csms, extra)
    try:
        await lc.start()
        yield lc, manufacturer
    finally:
        await lc.stop()
        await chargers_csms.stop()


@pytest.fixture
async def setting(
    tmp_path: Path, trial_s: float
) -> AsyncIterator[tuple[CsmsForLc, LaunchedLc, Manufacturer]]:
    async with (
        running(CsmsForLc()) as csms,
        launched_with_manufacturer(tmp_path, csms, trial_s) as (lc, manufacturer),
    ):
        await wait_until(lambda: boot_reasons(csms) == ["PowerUp"], 20, "the first boot")
        yield csms, lc, manufacturer


async def built_release(folder: Path, key: Path) -> tuple[Path, str]:
    """scripts/release from this checkout under NEW_VERSION: the file and its signature."""
    out = folder / "out"
    build = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPO / "scripts" / "release"),
        "--out",
        str(out),
        "--version",
        NEW_VERSION,
        "--key",
        str(key),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(build.communicate(), 120)
    assert build.returncode == 0, output.decode()
    release = out / f"ocpp-lc-{NEW_VERSION}.tar.gz"
    return release, (out / f"{release.name}.sig").read_text(encoding="ascii").strip()


def _statuses(csms: CsmsForLc) -> list[str]:
    return [notice["status"] for notice in own_calls(csms, "FirmwareStatusNotification")]


def _firmware_versions(csms: CsmsForLc) -> list[str]:
    boots = own_calls(csms, "BootNotification")
    return [boot["chargingStation"]["firmwareVersion"] for boot in boots]


def signed_firmware(
    location: str,
    manufacturer: Manufacturer,
    signature: str,
    retrieve_in_s: float = 0,
    install_in_s: float | None = None,
) -> dict[str, str]:
    """A signed update's `firmware` (the same in 2.0.1 and the 1.6 security whitepaper)."""
    now = datetime.now(UTC)
    firmware = {
        "location": location,
        "retrieveDateTime": to_ocpp_time(now + timedelta(seconds=retrieve_in_s)),
        "signingCertificate": pem(manufacturer.certificate),
        "signature": signature,
    }
    if install_in_s is not None:
        firmware["installDateTime"] = to_ocpp_time(now + timedelta(seconds=install_in_s))
    return firmware


async def _update(
    csms: CsmsForLc,
    location: str,
    manufacturer: Manufacturer,
    signature: str,
    retrieve_in_s: float = 0,
    install_in_s: float | None = None,
) -> str:
    firmware = signed_firmware(location, manufacturer, signature, retrieve_in_s, install_in_s)
    request = call201.UpdateFirmware(request_id=5, firmware=firmware, retries=1, retry_interval=1)
    return str((await csms.connected(IDENTITY).call(request)).status)


async def test_a_signed_release_is_installed_and_the_lc_boots_into_it(
    setting: tuple[CsmsForLc, LaunchedLc, Manufacturer], tmp_path: Path
) -> None:
    csms, lc, manufacturer = setting
    release, signature = await built_release(tmp_path, manufacturer.key_file(tmp_path))
    async with origin_server(release) as origin:
        status = await _update(
            csms, f"{origin.base_url}/fw.bin", manufacturer, signature, 1, install_in_s=2
        )
        assert status == "Accepted"
        await wait_until(lambda: "Installed" in _statuses(csms), 90, "Installed")
    assert _statuses(csms) == [
        "DownloadScheduled",
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "InstallScheduled",
        "Installing",
        "InstallRebooting",
        "Installed",
    ]
    assert boot_reasons(csms) == ["PowerUp", "FirmwareUpdate"]
    assert _firmware_versions(csms) == [RUNNING, NEW_VERSION]
    assert "security event FirmwareUpdated" in lc.log()
    releases = lc.folder / "releases"
    assert (releases / "current").readlink() == Path(NEW_VERSION)
    assert not (releases / "trial.json").exists()
    assert _mode(releases) == 0o700 and _mode(releases / "last-update.json") == 0o600
    assert not [path for path in releases.rglob("*") if _mode(path) & 0o002]
    page = await lc.fetch("/")
    assert f"Version <b>{NEW_VERSION}</b> runs, from releases/current." in page
    assert "Kept for a rollback: the installed release." in page
    assert "On trial" not in page
    assert _last_update(page) == (f"{origin.base_url}/fw.bin", "installed", "installed")
    metrics = await lc.fetch("/metrics")
    assert 'ocpp_lc_self_update_total{outcome="installed"} 1.0' in metrics
    assert f'ocpp_lc_release_info{{version="{NEW_VERSION}"}} 1.0' in metrics
    assert "ocpp_lc_release_on_trial 0.0" in metrics


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _last_update(page: str) -> tuple[str, str, str]:
    """The status page's row of the LC's last update: (file, state, result) as shown."""
    found = re.search(
        r"<tr><td>the LC itself</td><td>([^<]*)</td><td>([^<]*)</td><td>[^<]*</td>"
        r"<td>(?:<span class=\"warn\">)?([^<]*)",
        page,
    )
    assert found is not None, page
    return found[1], found[2], found[3]


def mis_signed(folder: Path, manufacturer: Manufacturer) -> tuple[Path, str]:
    """A release file and the manufacturer's signature over other bytes."""
    release = folder / "release.tar.gz"
    release.write_bytes(b"not what was signed")
    other = folder / "other"
    other.write_bytes(b"what was signed")
    return release, sign_file(other, manufacturer.key)


async def test_a_bad_signature_or_signing_certificate_is_refused_and_nothing_changes(
    setting: tuple[CsmsForLc, LaunchedLc, Manufacturer], tmp_path: Path
) -> None:
    csms, lc, manufacturer = setting
    release, signature = mis_signed(tmp_path, manufacturer)
    async with origin_server(release) as origin:
        location = f"{origin.base_url}/fw.bin"
        stranger = _manufacturer("Someone Else's Root")
        assert await _update(csms, location, stranger, signature) == "InvalidCertificate"
        assert "security event InvalidFirmwareSigningCertificate" in lc.log()
        assert _last_update(await lc.fetch("/")) == (
            location,
            "InvalidCertificate",
            "invalid certificate",
        )
        assert await _update(csms, location, manufacturer, signature) == "Accepted"
        await wait_until(lambda: "InvalidSignature" in _statuses(csms), 30, "InvalidSignature")
    assert _statuses(csms) == ["Downloading", "Downloaded", "InvalidSignature"]
    await wait_until(
        lambda: "security event InvalidFirmwareSignature" in lc.log(), 10, "the security event"
    )
    assert boot_reasons(csms) == ["PowerUp"]  # still the same process
    trigger = call201.TriggerMessage(requested_message="FirmwareStatusNotification")
    assert (await csms.connected(IDENTITY).call(trigger)).status == "Accepted"
    await wait_until(lambda: len(_statuses(csms)) == 4, 10, "the triggered status")
    assert _statuses(csms)[-1] == "InvalidSignature"  # the last one, again
    assert _last_update(await lc.fetch("/")) == (location, "InvalidSignature", "invalid signature")
    metrics = await lc.fetch("/metrics")
    assert 'ocpp_lc_self_update_total{outcome="invalid_certificate"} 1.0' in metrics
    assert 'ocpp_lc_self_update_total{outcome="invalid_signature"} 1.0' in metrics
    assert 'ocpp_lc_self_update_total{outcome="installed"} 0.0' in metrics


def _broken_release(folder: Path, version: str, module: str, code: str) -> Path:
    """A release of nothing but the LC's `module` with `code` in it."""
    wheel = folder / f"ocpp_local_controller-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(module, code)
        if module != "lc/__init__.py":
            archive.writestr("lc/__init__.py", "")
        info = f"ocpp_local_controller-{version}.dist-info"
        archive.writestr(f"{info}/METADATA", f"Name: ocpp-local-controller\nVersion: {version}\n")
    release = folder / f"ocpp-lc-{version}.tar.gz"
    write_release(wheel, version, release)
    return release


async def _rolled_back(
    setting: tuple[CsmsForLc, LaunchedLc, Manufacturer], release: Path, version: str
) -> None:
    """UpdateFirmware to the signed `release`; it fails and the running release boots again."""
    csms, lc, manufacturer = setting
    async with origin_server(release) as origin:
        signature = sign_file(release, manufacturer.key)
        location = f"{origin.base_url}/fw.bin"
        assert await _update(csms, location, manufacturer, signature) == "Accepted"
        await wait_until(lambda: "InstallationFailed" in _statuses(csms), 60, "the rollback")
    assert _statuses(csms)[-3:] == ["Installing", "InstallRebooting", "InstallationFailed"]
    assert boot_reasons(csms) == ["PowerUp", "ApplicationReset"]
    assert _firmware_versions(csms) == [RUNNING, RUNNING]
    releases = lc.folder / "releases"
    assert not (releases / version).exists() and not (releases / "current").exists()
    page = await lc.fetch("/")
    assert f"Version <b>{RUNNING}</b> runs, from the installed release." in page
    assert _last_update(page) == (location, "InstallationFailed", "rolled back")
    metrics = await lc.fetch("/metrics")
    assert 'ocpp_lc_self_update_total{outcome="rolled_back"} 1.0' in metrics


async def test_a_release_that_does_not_start_is_rolled_back_and_the_old_one_boots_again(
    setting: tuple[CsmsForLc, LaunchedLc, Manufacturer], tmp_path: Path
) -> None:
    crash = "raise ImportError('a release that cannot start')\n"
    await _rolled_back(
        setting, _broken_release(tmp_path, "0.9.9", "lc/__init__.py", crash), "0.9.9"
    )
    assert "cannot start" in setting[1].log()


@pytest.mark.parametrize("trial_s", [3])
async def test_a_release_that_never_reaches_the_csms_is_ended_and_rolled_back(
    setting: tuple[CsmsForLc, LaunchedLc, Manufacturer], tmp_path: Path
) -> None:
    hang = "import time\ntime.sleep(3600)  # starts, and never connects\n"
    await _rolled_back(setting, _broken_release(tmp_path, "0.9.8", "lc/__main__.py", hang), "0.9.8")
    assert "release 0.9.8 not connected in time" in setting[1].log()
