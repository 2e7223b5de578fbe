"""What a connection costs does not grow with the chargers connected: the chargers whose
remembered credentials the journal must keep are read when its bound is crossed, not copied
for each connection. (Copied, a storm of N chargers held N copies of up to N identities while
their writes waited for the group commit: ~16 MiB at once for 1,000 chargers, left behind as
fragmented heap.)"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import pytest

from router.settings import HoldSettings
from tests.conftest import RouterFactory, lc_url
from tests.peers import Csms, connect_charge_point, wait_until


async def test_the_chargers_kept_are_those_connected_when_read(
    csms: Csms, make_router: RouterFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = await make_router(csms.url, hold=HoldSettings(tmp_path / "journal.sqlite"))
    journal = router.journal
    assert journal is not None
    remember = journal.remember_credentials
    kept: dict[str, Collection[str]] = {}

    async def recording(
        identity: str, authorization: str | None, subprotocol: str, keep: Collection[str] = ()
    ) -> None:
        kept[identity] = keep
        await remember(identity, authorization, subprotocol, keep)

    monkeypatch.setattr(journal, "remember_credentials", recording)
    first = await connect_charge_point(lc_url(router), "CP0", "ocpp2.0.1")
    await wait_until(lambda: "CP0" in kept, timeout_s=10, what="CP0's credentials remembered")
    second = await connect_charge_point(lc_url(router), "CP1", "ocpp2.0.1")
    await wait_until(lambda: "CP1" in kept, timeout_s=10, what="CP1's credentials remembered")
    # CP0's write, had it crossed the bound only now, keeps CP1 too.
    assert set(kept["CP0"]) == {"CP0", "CP1"}
    await second.close()
    await wait_until(lambda: set(kept["CP0"]) == {"CP0"}, timeout_s=10, what="CP1 gone")
    await first.close()
