"""A charger sending large MeterValues through a CSMS outage: the journal stays within its
bound, and the transaction's start, stop and latest meter value still reach the CSMS.

Independent peers: the PyPI `ocpp` CSMS and a 1.6 charge point, over real sockets.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.exceptions import InternalError
from ocpp.v16 import call as call16

from router.journal_bounds import JournalLimits
from router.offline import OfflineSettings
from router.server import Router
from router.settings import HoldSettings
from tests.conftest import ObservedRouter, RouterFactory, lc_url
from tests.peers import Csms, connect_charge_point, now_iso, wait_until
from tests.router.test_hold import Session16
from tests.router.test_tls import security_events

pytestmark = pytest.mark.timeout(90)

CHARGER_BYTES = 64 * 1024


def large_meter_values(session: Session16) -> call16.MeterValues:
    """MeterValues of ~8 KB for the session: many sampled values, within the frame limit."""
    sample = {"value": "16.0", "measurand": "Current.Import", "phase": "L1", "unit": "A"}
    return call16.MeterValues(
        connector_id=1,
        transaction_id=session.transaction_id,
        meter_value=[{"timestamp": now_iso(), "sampledValue": [sample] * 100}],
    )


async def _held(csms: Csms, make_router: RouterFactory, tmp_path: Path, limit: int) -> Router:
    limits = JournalLimits(charger_bytes=limit, total_bytes=4 * limit)
    offline = OfflineSettings(redial_interval_s=0.1)
    hold = HoldSettings(tmp_path / "journal.sqlite", offline, limits=limits)
    return await make_router(csms.url, ping_interval_s=2, hold=hold)


@contextlib.asynccontextmanager
async def _session_in_an_outage(
    csms: Csms, make_router: RouterFactory, tmp_path: Path, limit: int
) -> AsyncIterator[tuple[Router, Session16]]:
    """A charger whose session starts while the CSMS is gone, on an LC with this bound."""
    router = await _held(csms, make_router, tmp_path, limit)
    charger = await connect_charge_point(lc_url(router), "CP01")
    try:
        await csms.stop()
        gauge = router.metrics.upstream_connected
        await wait_until(lambda: gauge.value("CP01") == 0, what="the CSMS link down")
        session = Session16(charger)
        await session.start()  # offline: a provisional id the LC saw
        yield router, session
    finally:
        await charger.close()


async def test_large_meter_values_stay_within_the_bound_and_start_and_stop_survive(
    csms: Csms, make_router: RouterFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    limit = CHARGER_BYTES
    async with _session_in_an_outage(csms, make_router, tmp_path, limit) as (router, session):
        journal = router.journal
        assert journal is not None
        for _ in range(30):  # ~240 KB of meter values for a 64 KB bound
            await session.charger.cp.call(large_meter_values(session))
            assert (await journal.backlog_summaries())["CP01"].size_bytes <= CHARGER_BYTES
        await session.stop()
        dropped = router.metrics.journal_meter_values_dropped._value.get()
        assert dropped > 0
        assert "MemoryExhaustion" in caplog.text
        assert isinstance(router, ObservedRouter)
        exhausted = [(who, kind) for who, kind, _ in security_events(router)]
        assert ("CP01", "MemoryExhaustion") in exhausted

        sent = [json.loads(f) for f in session.charger.recorder.sent if json.loads(f)[0] == 2]
        await csms.start(csms.port)
        await wait_until(
            lambda: "StopTransaction" in str(csms.received("CP01")), timeout_s=30, what="replay"
        )
        got = [json.loads(f) for f in csms.received("CP01")]
        got_ids = [m[1] for m in got if m[0] == 2]
        # Start, the newest meter values in order (the last one always), stop.
        meter_ids = [m[1] for m in sent if m[2] == "MeterValues"]
        kept = [i for i in got_ids if i in meter_ids]
        assert got_ids == [sent[0][1], *kept, sent[-1][1]]
        assert kept == meter_ids[len(meter_ids) - len(kept) :] and kept[-1] == meter_ids[-1]
        assert len(kept) == len(meter_ids) - dropped


async def test_a_message_that_finds_no_room_gets_a_callerror_and_the_link_stays(
    csms: Csms, make_router: RouterFactory, tmp_path: Path
) -> None:
    limit = 4096  # below one large meter value
    async with _session_in_an_outage(csms, make_router, tmp_path, limit) as (router, session):
        with pytest.raises(InternalError):  # not journaled: the charger keeps it
            await session.charger.cp.call(large_meter_values(session), suppress=False)
        assert router.metrics.journal_refused.labels("limit")._value.get() == 1
        await session.stop()  # the link stays up; what fits is journaled
        journal = router.journal
        assert journal is not None
        actions = [json.loads(entry.text)[2] for entry in await journal.pending("CP01")]
        assert actions == ["StartTransaction", "StopTransaction"]


async def test_a_full_disk_refuses_what_it_cannot_store_and_the_charger_stays_served(
    csms: Csms, make_router: RouterFactory, tmp_path: Path
) -> None:
    limit = CHARGER_BYTES
    async with _session_in_an_outage(csms, make_router, tmp_path, limit) as (router, session):
        journal = router.journal
        assert journal is not None
        # SQLite's own limit on the file, at its current size: the disk is full from now on.
        [(pages,)] = await journal._read("PRAGMA page_count")
        await journal._read(f"PRAGMA max_page_count = {pages}")
        for _ in range(3):
            with pytest.raises(InternalError):
                await session.charger.cp.call(large_meter_values(session), suppress=False)
        assert router.metrics.journal_refused.labels("disk_full")._value.get() >= 3
        refused = router.metrics.journal_refused.labels("disk_full")._value.get()
        for connector in range(1, 80):  # statuses remembered until their rows need a new page
            status = call16.StatusNotification(
                connector_id=connector, error_code="NoError", status="Charging", timestamp=now_iso()
            )
            await session.charger.cp.call(status, suppress=False)  # answered, written or not
        # Some could not be written; that bookkeeping is lost, the link is not.
        assert router.metrics.journal_refused.labels("disk_full")._value.get() > refused
        await session.charger.cp.call(call16.Heartbeat(), suppress=False)
        await journal._read("PRAGMA max_page_count = 1073741823")  # room again
        await session.stop()
        actions = [json.loads(entry.text)[2] for entry in await journal.pending("CP01")]
        assert actions == ["StartTransaction", "StopTransaction"]
