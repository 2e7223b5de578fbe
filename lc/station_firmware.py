"""The firmware publisher on the LC's own link to the CSMS (L03, L04): the CSMS's
PublishFirmware and UnpublishFirmware reach it, its status notifications reach the CSMS."""

from __future__ import annotations

import asyncio
import logging

from firmware.publication import Notice
from firmware.publisher import FirmwarePublisher
from station.link import StationCallFailed, StationLink
from supervision.tasks import Tasks

log = logging.getLogger(__name__)

NOTICE = "PublishFirmwareStatusNotification"
# Sends of one notification before it is dropped: a lost link is one failed send (the next
# waits in the link's queue until it is back), a CSMS that keeps refusing it ends the tries.
NOTICE_ATTEMPTS = 3


def wire_firmware(link: StationLink, publisher: FirmwarePublisher, tasks: Tasks) -> None:
    """Register the publisher's handlers and its trigger on `link`; forward its notices."""
    link.register("PublishFirmware", publisher.publish_firmware)
    link.register("UnpublishFirmware", publisher.unpublish_firmware)

    async def send_triggered() -> None:
        await send_notice(link, publisher.triggered_notice())

    link.on_trigger(NOTICE, send_triggered)
    tasks.spawn(forward_notices(link, publisher.notices), "firmware notices")


async def forward_notices(link: StationLink, notices: asyncio.Queue[Notice]) -> None:
    """Send every notice to the CSMS, one after the other, in their order (until cancelled)."""
    while True:
        await send_notice(link, await notices.get())


async def send_notice(link: StationLink, notice: Notice, action: str = NOTICE) -> None:
    """Send a status notification (`action`), trying again a few times."""
    for attempt in range(1, NOTICE_ATTEMPTS + 1):
        try:
            await link.call(action, notice)
            return
        except StationCallFailed as exc:
            log.warning("%s %s not delivered (try %d): %s", action, notice, attempt, exc)
    log.error("%s %s dropped after %d tries", action, notice, NOTICE_ATTEMPTS)
