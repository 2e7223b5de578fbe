"""The LC's own firmware, updated by the CSMS on the LC's own link (2.0.1 L01 UpdateFirmware; 1.6
the security whitepaper's SignedUpdateFirmware). 1.6's own UpdateFirmware has no handler: the
whitepaper wants it answered with a CALLERROR NotSupported and no update started (L01.FR.20).

The signed update: decided and followed step by step by `firmware.self_update` (sans-I/O); here
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
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import Counter

from certificates.trust_store import TrustStore
from firmware.download import DownloadError, Refused, download
from firmware.release_file import MAX_WHEEL_BYTES, ReleaseError, unpack_release
from firmware.releases import Releases
from firmware.self_update import (
    Notice,
    SelfUpdate,
    UpdateRecord,
    decide,
    notices_for,
)
from firmware.signature import signature_valid
from lc.station_firmware import send_notice
from ocpp_knowledge.security_events import RecordSecurityEvent
from station.boot_reason import NextBootReason
from station.config import StationConfig, package_version
from station.link import StationLink

log = logging.getLogger(__name__)

MANUFACTURER_ROOT = "ManufacturerRootCertificate"
IDLE: Notice = {"status": "Idle"}  # no update of its own under way


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
        outcomes: Counter,
    ) -> None:
        """`outcomes`: ocpp_lc_self_update_total, by how each update ended."""
        self._link = link
        self._trust_store = trust_store
        self._releases = releases
        self._next_boot = next_boot
        self._security_event = security_event
        self._restart = restart
        self._trial_s = station.release_trial_s
        self._update: SelfUpdate | None = None
        # The signed update's status notification (1.6: not FirmwareStatusNotification).
        self._notice = link.session.dialect.signed_update_status
        self._last: Notice = IDLE  # the last notice sent, for a trigger
        self._outcomes = outcomes

    def wire(self) -> None:
        self._releases.ensure()
        self._link.register(self._link.session.dialect.signed_update, self.update_firmware)
        self._link.on_trigger(self._notice, self._send_last)
        self._link.on_boot_accepted(self._report_last_update)

    async def update_firmware(self, request: dict[str, Any]) -> dict[str, Any]:
        """A signed update (2.0.1 UpdateFirmware, 1.6 SignedUpdateFirmware: its `firmware`
        signed)."""
        busy = self._update is not None and not self._update.over
        roots = [] if self._trust_store is None else self._trust_store.roots(MANUFACTURER_ROOT)
        decision = decide(request, roots, datetime.now(UTC), busy)
        if decision.security_event is not None:
            self._security_event(*decision.security_event)
        location = request["firmware"]["location"]
        if decision.status == "InvalidCertificate":
            self._record(location, decision.status)
        if decision.plan is not None:
            update = self._update = SelfUpdate(decision.plan)
            self._record(location, "Accepted")
            self._link.after_answer(lambda: self._run(update))
        else:
            log.warning("UpdateFirmware of the LC itself: %s", decision.status)
        return {"status": decision.status}

    async def _run(self, update: SelfUpdate) -> None:
        notices, wait = update.begin(datetime.now(UTC))
        await self._advance(update, notices)
        await asyncio.sleep(wait)
        file = self._releases.incoming / "release.tar.gz"
        try:
            await self._download_verify_install(update, file)
        finally:
            await asyncio.to_thread(file.unlink, missing_ok=True)

    async def _download_verify_install(self, update: SelfUpdate, file: Path) -> None:
        await asyncio.to_thread(file.unlink, missing_ok=True)  # from an earlier request
        if not await self._download(update, file):
            return
        plan = update.plan
        valid = await asyncio.to_thread(signature_valid, file, plan.signature, plan.key)
        if not valid:
            self._security_event("InvalidFirmwareSignature", f"release from {plan.location}")
        notices, wait = update.downloaded(valid, datetime.now(UTC))
        await self._advance(update, notices)
        if update.over:
            return
        await asyncio.sleep(wait)
        await self._advance(update, update.installing())
        version = await self._install(file)
        if version is not None:
            self._releases.begin_trial(version, plan.request_id, self._trial_s)
            self._next_boot.set("FirmwareUpdate")
        await self._advance(update, update.installed(version is not None))
        if version is not None:
            self._restart()

    async def _download(self, update: SelfUpdate, file: Path) -> bool:
        """Download with the retries the request allows; whether the file is complete."""
        plan = update.plan
        async with aiohttp.ClientSession() as http:
            while True:
                await self._advance(update, update.downloading())
                try:
                    await download(http, plan.location, file, MAX_WHEEL_BYTES)
                    return True
                except Refused as exc:
                    log.error("release download refused: %s", exc)
                    await self._advance(update, update.refused())
                    return False
                except DownloadError as exc:
                    log.warning("release download failed: %s", exc)
                    notices, retry_in = update.attempt_failed()
                    await self._advance(update, notices)
                    if retry_in is None:
                        return False
                await asyncio.sleep(retry_in)

    async def _install(self, file: Path) -> str | None:
        """Unpack the release beside the running one; its version, None when it is broken."""
        try:
            return await asyncio.to_thread(_unpack, self._releases, file)
        except ReleaseError as exc:
            log.error("release not installed: %s", exc)
            return None

    async def _advance(self, update: SelfUpdate, notices: list[Notice]) -> None:
        """The update's new status, when it has one (not a failed attempt to be retried):
        recorded, and its notices sent."""
        if notices:
            self._record(update.plan.location, update.status)
        await self._send(notices)

    def _record(self, location: str, state: str) -> None:
        record = UpdateRecord(location, state, time.time())
        self._releases.record_update(record)
        if record.outcome is not None:
            self._outcomes.labels(record.outcome).inc()

    async def _send(self, notices: list[Notice]) -> None:
        for notice in notices:
            self._last = notice
            await send_notice(self._link, notice, self._notice)

    async def _send_last(self) -> None:
        # L01.FR.25 (1.6: L01.FR.28): once Installed, the LC is Idle again.
        last = self._last
        await send_notice(self._link, IDLE if last["status"] == "Installed" else last, self._notice)

    async def _report_last_update(self) -> None:
        """After a boot the CSMS accepted: how the last update ended, once."""
        trial = self._releases.trial()
        if trial is not None and trial.candidate == package_version():
            self._releases.confirm()
            detail = f"{trial.previous or 'the installed release'} -> {trial.candidate}"
            self._security_event("FirmwareUpdated", detail)
            self._record_end("Installed")
            await self._send(notices_for("Installed", trial.request_id))
        failed = self._releases.take_failure()
        if failed is not None:
            self._record_end("InstallationFailed")
            await self._send(notices_for("InstallationFailed", failed.request_id))

    def _record_end(self, state: str) -> None:
        """How the update the process before this one installed ended."""
        last = self._releases.last_update()
        self._record("" if last is None else last.location, state)


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
