"""A closed link leaves nothing behind for the cycle collector: the LC's own objects of a link
(its Link, its LinkSession and what that holds) are freed by reference counting as soon as the
charger is gone. While they run, links are frozen out of full collections
(supervision/gc_freeze.py): a reference cycle among a closed link's objects would stay in memory
until the next reclaim, and make that reclaim's full collection longer."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.charger_calls import ChargerCalls
from router.link import Link
from router.offline import OfflineRelay
from router.refusals import Refusals
from router.session import LinkSession
from router.settings import HoldSettings
from tests.conftest import RouterFactory, lc_url
from tests.peers import Csms, connect_charge_point, wait_until

CHARGERS = 10
PER_LINK = (Link, LinkSession, OfflineRelay, ChargerCalls, Refusals)


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _alive() -> int:
    return sum(isinstance(o, PER_LINK) for o in gc.get_objects())


@pytest.mark.usefixtures("collector_off")
async def test_closed_links_are_freed_without_the_cycle_collector(
    csms: Csms, make_router: RouterFactory, tmp_path: Path
) -> None:
    router = await make_router(csms.url, hold=HoldSettings(tmp_path / "journal.sqlite"))
    for n in range(CHARGERS):
        charger = await connect_charge_point(lc_url(router), f"CP{n}", "ocpp2.0.1")
        await charger.cp.boot()
        assert _alive() >= len(PER_LINK)  # what is counted is there while the link runs
        await charger.close()
        await wait_until(lambda: not router.connected(), timeout_s=10, what="charger gone")
    await wait_until(lambda: _alive() == 0, timeout_s=10, what="closed links freed")
