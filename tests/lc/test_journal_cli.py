"""`journal list|export|drop` run as the site manager runs it, on the journal of a running LC.

The LC (in this process) holds a PyPI-`ocpp` charger through a CSMS outage and keeps
journaling while the command, in its own process, reads and drops entries.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from ocpp.v16 import call as call16

from router.journal import Journal
from router.offline import OfflineSettings
from router.server import Router
from router.settings import HoldSettings
from tests.conftest import RouterFactory
from tests.peers import Csms, connect_charge_point, now_iso, wait_until
from tests.router.test_hold import Session16, transaction_frames

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]


async def _lc_journal(config: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lc",
        "journal",
        *args,
        "--config",
        str(config),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def _pending(router: Router) -> list[str]:
    journal = router.journal
    assert isinstance(journal, Journal)
    return [entry.text for entry in await journal.pending("CP01")]


async def test_export_and_drop_on_the_journal_of_a_running_lc(
    csms: Csms, make_router: RouterFactory, tmp_path: Path
) -> None:
    journal_path = tmp_path / "journal.sqlite"
    hold = HoldSettings(journal_path, OfflineSettings(redial_interval_s=0.1))
    router = await make_router(csms.url, hold=hold)
    config = tmp_path / "site.toml"
    config.write_text(
        f'[router]\nupstream_url = "{csms.url}"\n'
        f'[router.offline]\njournal_path = "{journal_path}"\n'
    )
    charger = await connect_charge_point(f"ws://127.0.0.1:{router.port}", "CP01")
    try:
        session = Session16(charger)
        await csms.stop()
        gauge = router.metrics.upstream_connected
        await wait_until(lambda: gauge.value("CP01") == 0, what="the outage")
        await session.start()
        for _ in range(3):
            await session.meter()
        journaled = transaction_frames(charger.recorder.sent)
        assert await _pending(router) == journaled

        code, out, _ = await _lc_journal(config, "list")
        assert code == 0
        (row,) = [line.split() for line in out.splitlines() if line.startswith("CP01")]
        size = sum(len(frame.encode()) for frame in journaled)
        assert row[1] == "4" and row[-1] == str(size)

        exported = tmp_path / "CP01.jsonl"
        code, _, err = await _lc_journal(
            config, "export", "--charger", "CP01", "--output", str(exported)
        )
        assert code == 0, err
        lines = [json.loads(line) for line in exported.read_text().splitlines()]
        assert [line["frame"] for line in lines] == [json.loads(f) for f in journaled]
        assert session.transaction_id is not None
        assert lines[0]["provisional_transaction_id"] == session.transaction_id < 0

        await charger.cp.call(  # journaled after the export: a drop must keep it
            call16.StopTransaction(
                meter_stop=10, timestamp=now_iso(), transaction_id=session.transaction_id
            )
        )
        drop = ("drop", "--charger", "CP01", "--exported", str(exported))
        code, _, err = await _lc_journal(config, *drop)
        assert code == 2 and "--confirm" in err
        assert len(await _pending(router)) == 5  # nothing dropped without it

        code, out, err = await _lc_journal(config, *drop, "--confirm")
        assert code == 0, err
        assert "4 messages dropped, 1 not exported kept" in out
        left = await _pending(router)
        assert [json.loads(text)[2] for text in left] == ["StopTransaction"]
        await session.meter()  # the running LC journals on as before
        assert len(await _pending(router)) == 2
    finally:
        await charger.close()


async def test_journal_commands_need_a_journal(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(
        '[router]\nupstream_url = "ws://127.0.0.1:1"\n'
        f'[router.offline]\njournal_path = "{tmp_path / "none.sqlite"}"\n'
    )
    code, _, err = await _lc_journal(config, "list")
    assert code == 1 and "no journal at" in err
    assert not (tmp_path / "none.sqlite").exists()
    config.write_text('[router]\nupstream_url = "ws://127.0.0.1:1"\nconnection_loss = "close"\n')
    code, _, err = await _lc_journal(config, "list")
    assert code == 2 and "router.connection_loss" in err
