"""The LC's own firmware, updated by the CSMS on the LC's own link (2.0.1 L01, 1.6
UpdateFirmware).

UpdateFirmware: decided and followed step by step by `firmware.self_update` (sans-I/O); here
the release file is downloaded, its signature checked, unpacked beside the running release and
the LC restarts into it on trial. The new release confirms itself once the CSMS accepted its
boot (Installed, FirmwareUpdated security event); the launcher rolls it back if it never gets
there, and the release it falls back to reports InstallationFailed.
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
from firmware.self_update import (
    Notice,
    SelfUpdate,
    decide,
    decide_16,
    notices_for,
    signature_location,
)
from firmware.signature import signature_valid
from lc.station_firmware import send_notice
from ocpp_knowledge.security_events import RecordSecurityEvent
from station.boot_reason import NextBootReason
from station.config import StationConfig, package_version
from station.link import StationLink

log = logging.getLogger(__name__)

NOTICE = "FirmwareStatusNotification"
MANUFACTURER_ROOT = "ManufacturerRootCertificate"
MAX_SIGNATURE_BYTES = 4096  # a base64 RSA-4096 signature is under 700


class SelfUpdateAtCsms:
    def __init__(
        self,
        link: StationLink,
        trust_store: TrustStore | None,
        releases: Releases,
        next_boot: NextBootReason,
        security_event: RecordSecurityEvent,
        restart: Callable[[], None],
        station: StationConfig,
    ) -> None:
        self._link = link
        self._trust_store = trust_store
        self._releases = releases
        self._next_boot = next_boot
        self._security_event = security_event
        self._restart = restart
        self._trial_s = station.release_trial_s
        self._release_key = station.release_key  # checks 1.6 updates
        self._update: SelfUpdate | None = None
        self._last: Notice = {"status": "Idle"}  # the last notice, for TriggerMessage

    def wire(self) -> None:
        self._releases.ensure()
        self._link.register("UpdateFirmware", self.update_firmware)
        self._link.on_trigger(NOTICE, self._send_last)
        self._link.on_boot_accepted(self._report_last_update)

    async def update_firmware(self, request: dict[str, Any]) -> dict[str, Any]:
        """A 2.0.1 UpdateFirmware (its `firmware` signed) or a 1.6 one."""
        busy = self._update is not None and not self._update.over
        if "firmware" in request:
            trusted = self._trust_store
            roots = [] if trusted is None else trusted.roots(MANUFACTURER_ROOT)
            decision = decide(request, roots, datetime.now(UTC), busy)
        else:
            decision = decide_16(request, self._release_key, busy)
        if decision.security_event is not None:
            self._security_event(*decision.security_event)
        if decision.plan is not None:
            update = self._update = SelfUpdate(decision.plan)
            self._link.after_answer(lambda: self._run(update))
        else:
            log.warning("UpdateFirmware of the LC itself: %s", decision.status)
        return {"status": decision.status} if "firmware" in request else {}

    async def _run(self, update: SelfUpdate) -> None:
        notices, wait = update.begin(datetime.now(UTC))
        await self._send(notices)
        await asyncio.sleep(wait)
        file = self._releases.incoming / "release.tar.gz"
        try:
            await self._download_verify_install(update, file)
        finally:
            await asyncio.to_thread(file.unlink, missing_ok=True)
            await asyncio.to_thread(_signature_file(file).unlink, missing_ok=True)

    async def _download_verify_install(self, update: SelfUpdate, file: Path) -> None:
        await asyncio.to_thread(file.unlink, missing_ok=True)  # from an earlier request
        signature = await self._download(update, file)
        if signature is None:
            return
        plan = update.plan
        valid = await asyncio.to_thread(signature_valid, file, signature, plan.key)
        if not valid:
            self._security_event("InvalidFirmwareSignature", f"release from {plan.location}")
        notices, wait = update.downloaded(valid, datetime.now(UTC))
        await self._send(notices)
        if update.over:
            return
        await asyncio.sleep(wait)
        await self._send(update.installing())
        version = await self._install(file)
        if version is not None:
            self._releases.begin_trial(version, plan.request_id, self._trial_s)
            self._next_boot.set("FirmwareUpdate")
        await self._send(update.installed(version is not None))
        if version is not None:
            self._restart()

    async def _download(self, update: SelfUpdate, file: Path) -> str | None:
        """Download with the retries the request allows; the release's signature once it is
        complete (with 1.6, downloaded from beside it), None when the download failed."""
        plan = update.plan
        async with aiohttp.ClientSession() as http:
            while True:
                await self._send(update.downloading())
                try:
                    await download(http, plan.location, file, MAX_WHEEL_BYTES)
                    if plan.signature is not None:
                        return plan.signature
                    at, signature_file = signature_location(plan.location), _signature_file(file)
                    await download(http, at, signature_file, MAX_SIGNATURE_BYTES)
                    return await asyncio.to_thread(_signature_text, signature_file)
                except Refused as exc:
                    log.error("release download refused: %s", exc)
                    await self._send(update.refused())
                    return None
                except DownloadError as exc:
                    log.warning("release download failed: %s", exc)
                    notices, retry_in = update.attempt_failed()
                    await self._send(notices)
                    if retry_in is None:
                        return None
                await asyncio.sleep(retry_in)

    async def _install(self, file: Path) -> str | None:
        """Unpack the release beside the running one; its version, None when it is broken."""
        try:
            return await asyncio.to_thread(_unpack, self._releases, file)
        except ReleaseError as exc:
            log.error("release not installed: %s", exc)
            return None

    async def _send(self, notices: list[Notice]) -> None:
        for notice in notices:
            self._last = notice
            await send_notice(self._link, notice, NOTICE)

    async def _send_last(self) -> None:
        await send_notice(self._link, self._last, NOTICE)

    async def _report_last_update(self) -> None:
        """After a boot the CSMS accepted: how the last update ended, once."""
        trial = self._releases.trial()
        if trial is not None and trial.candidate == package_version():
            self._releases.confirm()
            detail = f"{trial.previous or 'the installed release'} -> {trial.candidate}"
            self._security_event("FirmwareUpdated", detail)
            await self._send(notices_for("Installed", trial.request_id))
        failed = self._releases.take_failure()
        if failed is not None:
            await self._send(notices_for("InstallationFailed", failed.request_id))


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


def _signature_file(release: Path) -> Path:
    return release.with_name(release.name + ".sig")


def _signature_text(path: Path) -> str:
    return path.read_text(encoding="ascii", errors="replace").strip()
