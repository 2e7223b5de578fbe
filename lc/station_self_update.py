"""The LC's own firmware, updated by the CSMS on the LC's own link (2.0.1 L01/L02).

UpdateFirmware: the release file is downloaded (retries as given), its signature checked
against the signing certificate, unpacked beside the running release, and the LC restarts into
it on trial, with FirmwareStatusNotifications all along (DownloadScheduled, Downloading,
Downloaded, SignatureVerified, InstallScheduled, Installing, InstallRebooting; or
DownloadFailed, InvalidSignature, InstallVerificationFailed). The new release confirms itself
once the CSMS accepted its boot (Installed, FirmwareUpdated security event); the launcher rolls
it back if it never gets there, and the release it falls back to reports InstallationFailed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from certificates.trust_store import TrustStore
from firmware.download import DownloadError, Refused, download
from firmware.release_file import MAX_WHEEL_BYTES, ReleaseError, unpack_release
from firmware.releases import Releases
from firmware.self_update import UpdatePlan, decide
from firmware.signature import signature_valid
from lc.station_firmware import send_notice
from ocpp_knowledge.security_events import RecordSecurityEvent
from station.boot_reason import NextBootReason
from station.config import package_version
from station.link import StationLink

log = logging.getLogger(__name__)

NOTICE = "FirmwareStatusNotification"
# How long a new release has to start and be accepted by the CSMS before it is rolled back.
TRIAL_BOUND_S = 180.0
MANUFACTURER_ROOT = "ManufacturerRootCertificate"


class SelfUpdateAtCsms:
    def __init__(
        self,
        link: StationLink,
        trust_store: TrustStore | None,
        releases: Releases,
        next_boot: NextBootReason,
        security_event: RecordSecurityEvent,
        restart: Callable[[], None],
    ) -> None:
        self._link = link
        self._trust_store = trust_store
        self._releases = releases
        self._next_boot = next_boot
        self._security_event = security_event
        self._restart = restart
        self._running: UpdatePlan | None = None
        self._last: dict[str, Any] = {"status": "Idle"}  # the last notice, for TriggerMessage

    def wire(self) -> None:
        self._releases.ensure()
        self._link.register("UpdateFirmware", self.update_firmware)
        self._link.on_trigger(NOTICE, self._send_last)
        self._link.on_boot_accepted(self._report_last_update)

    async def update_firmware(self, request: dict[str, Any]) -> dict[str, Any]:
        roots = [] if self._trust_store is None else self._trust_store.roots(MANUFACTURER_ROOT)
        busy = self._running is not None
        decision = decide(request, roots, datetime.now(UTC), busy)
        if decision.security_event is not None:
            self._security_event(*decision.security_event)
        plan = decision.plan
        if plan is not None:
            self._running = plan
            self._link.after_answer(lambda: self._update(plan))
        return {"status": decision.status}

    async def _update(self, plan: UpdatePlan) -> None:
        try:
            await self._download_verify_install(plan)
        finally:
            self._running = None

    async def _download_verify_install(self, plan: UpdatePlan) -> None:
        if await self._wait_until(plan.retrieve_at):
            await self._notify(plan, "DownloadScheduled")
        file = self._releases.incoming / f"{plan.request_id}.tar.gz"
        await asyncio.to_thread(file.unlink, missing_ok=True)
        await self._notify(plan, "Downloading")
        if not await self._download(plan, file):
            await self._notify(plan, "DownloadFailed")
            return
        await self._notify(plan, "Downloaded")
        if not await asyncio.to_thread(signature_valid, file, plan.signature, plan.certificate):
            self._security_event(
                "InvalidFirmwareSignature", f"release of request {plan.request_id}"
            )
            await self._notify(plan, "InvalidSignature")
            return
        await self._notify(plan, "SignatureVerified")
        if plan.install_at is not None and await self._wait_until(plan.install_at):
            await self._notify(plan, "InstallScheduled")
        await self._notify(plan, "Installing")
        version = await self._install(file)
        if version is None:
            await self._notify(plan, "InstallVerificationFailed")
            return
        self._releases.begin_trial(version, plan.request_id, TRIAL_BOUND_S)
        self._next_boot.set("FirmwareUpdate")
        await self._notify(plan, "InstallRebooting")
        self._restart()

    async def _wait_until(self, moment: datetime) -> bool:
        """Wait until `moment`; whether there was anything to wait for."""
        delay = (moment - datetime.now(UTC)).total_seconds()
        if delay <= 0:
            return False
        await asyncio.sleep(delay)
        return True

    async def _download(self, plan: UpdatePlan, file: Path) -> bool:
        async with aiohttp.ClientSession() as http:
            for attempt in range(plan.retries + 1):
                try:
                    await download(http, plan.location, file, MAX_WHEEL_BYTES)
                    return True
                except Refused as exc:
                    log.error("release download refused: %s", exc)
                    return False
                except DownloadError as exc:
                    log.warning("release download failed (try %d): %s", attempt + 1, exc)
                if attempt < plan.retries:
                    await asyncio.sleep(plan.retry_interval_s)
        return False

    async def _install(self, file: Path) -> str | None:
        """Unpack the release beside the running one; its version, None when it is broken."""
        try:
            return await asyncio.to_thread(_unpack, self._releases, file)
        except ReleaseError as exc:
            log.error("release not installed: %s", exc)
            return None
        finally:
            await asyncio.to_thread(file.unlink, missing_ok=True)

    async def _notify(self, plan: UpdatePlan, status: str) -> None:
        self._last = {"status": status, "requestId": plan.request_id}
        await send_notice(self._link, self._last, NOTICE)

    async def _send_last(self) -> None:
        await send_notice(self._link, self._last, NOTICE)

    async def _report_last_update(self) -> None:
        """After a boot the CSMS accepted: how the last update ended, once."""
        trial = self._releases.trial()
        if trial is not None and trial.candidate == package_version():
            self._releases.confirm()
            detail = f"{trial.previous or 'the installed release'} -> {trial.candidate}"
            self._security_event("FirmwareUpdated", detail)
            self._last = {"status": "Installed", "requestId": trial.request_id}
            await send_notice(self._link, self._last, NOTICE)
        failed = self._releases.take_failure()
        if failed is not None:
            self._last = {"status": "InstallationFailed", "requestId": failed.request_id}
            await send_notice(self._link, self._last, NOTICE)


def _unpack(releases: Releases, file: Path) -> str:
    """Unpack `file` into the releases folder under its version; the version."""
    staging = releases.incoming / "unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    manifest = unpack_release(file, staging)
    if manifest.version == releases.current():
        shutil.rmtree(staging)
        raise ReleaseError(f"{manifest.version} is the running release")
    target = releases.path(manifest.version)
    shutil.rmtree(target, ignore_errors=True)  # a release installed before and left
    os.replace(staging, target)
    return manifest.version
