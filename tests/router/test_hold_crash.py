"""`kill -9` of the LC during a CSMS outage and during the replay: nothing lost, order kept.

The LC runs as its own process (`python -m lc run --config FILE`); the CSMS and the charge
points are PyPI-`ocpp` peers in this process. Duplicates are allowed only where at-least-once
delivery demands them, and then they are byte-identical to an earlier frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.lc_process import wait_listening
from tests.peers import Csms, RunningChargePoint, connect_charge_point, wait_until, wait_until_async
from tests.router.test_hold import Session16, Session201, ids, transaction_frames

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
CHARGERS = [("CP00", "ocpp1.6"), ("CP01", "ocpp1.6"), ("CP10", "ocpp2.0.1"), ("CP11", "ocpp2.0.1")]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LcProcess:
    def __init__(self, config: Path, port: int, metrics_port: int, journal: Path) -> None:
        self.config = config
        self.port = port
        self.metrics_port = metrics_port
        self.journal = journal
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lc",
            "--log-level",
            "WARNING",
            "run",
            "--config",
            str(self.config),
            cwd=REPO,
        )
        await wait_listening(self.port)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), 10)


def hold_config(upstream: str, port: int, metrics_port: int, journal: Path) -> str:
    """A site config that routes with `hold` and a quickly redialling CSMS link."""
    return f"""
[router]
upstream_url = "{upstream}"
listen_host = "127.0.0.1"
listen_port = {port}
ping_interval_s = 2
call_timeout_s = 5
connection_loss = "hold"
[router.offline]
journal_path = "{journal}"
redial_interval_s = 0.1
[metrics]
listen_port = {metrics_port}
"""


@pytest.fixture
async def garage(tmp_path: Path) -> AsyncIterator[tuple[Csms, LcProcess]]:
    csms = Csms(passwords={identity: f"pw-{identity}" for identity, _ in CHARGERS})
    await csms.start()
    port, metrics_port = _free_port(), _free_port()
    journal = tmp_path / "journal.sqlite"
    config = tmp_path / "site.toml"
    config.write_text(hold_config(csms.url, port, metrics_port, journal))
    lc = LcProcess(config, port, metrics_port, journal)
    await lc.start()
    yield csms, lc
    await lc.stop()
    await csms.stop()


class Charger:
    """One charge point across reconnects, with every frame it ever sent."""

    def __init__(self, identity: str, version: str, port: int) -> None:
        self.identity, self.version, self.port = identity, version, port
        self.sent: list[str] = []
        self.running: RunningChargePoint | None = None
        self.session: Session16 | Session201 | None = None

    async def connect(self) -> None:
        if self.running is not None:
            self.sent += self.running.recorder.sent
        self.running = await connect_charge_point(
            f"ws://127.0.0.1:{self.port}",
            self.identity,
            self.version,
            password=f"pw-{self.identity}",
        )
        transaction = self.session.transaction_id if isinstance(self.session, Session16) else None
        count = self.session.count if isinstance(self.session, Session201) else 0
        seq = self.session.seq if isinstance(self.session, Session201) else 0
        if self.version == "ocpp1.6":
            self.session = Session16(self.running)
            self.session.transaction_id = transaction
        else:
            self.session = Session201(self.running, self.identity)
            self.session.count, self.session.seq = count, seq

    def all_sent(self) -> list[str]:
        current = self.running.recorder.sent if self.running is not None else []
        return transaction_frames(self.sent + current)

    async def close(self) -> None:
        if self.running is not None:
            await self.running.close()


def assert_delivered(charger: Charger, received: list[str]) -> None:
    """Every frame, in the order sent; a repeat only as an identical copy of an earlier one."""
    got = transaction_frames(received)
    first_seen: dict[str, str] = {}
    order = []
    for frame in got:
        message_id = ids([frame])[0]
        if message_id in first_seen:
            assert frame == first_seen[message_id], f"{charger.identity}: a changed duplicate"
            continue
        first_seen[message_id] = frame
        order.append(message_id)
    assert order == ids(charger.all_sent()), charger.identity


async def _chargers_in_sessions(lc: LcProcess) -> list[Charger]:
    chargers = [Charger(identity, version, lc.port) for identity, version in CHARGERS]
    for charger in chargers:
        await charger.connect()
        assert charger.running is not None and charger.session is not None
        await charger.running.cp.boot()
        await charger.session.start()
    # The credentials' salted hashes are stored in the background: the chargers can come back
    # during the outage only once they are.
    await wait_until(
        lambda: _credentials_kept(lc.journal) == {i for i, _ in CHARGERS},
        what="every charger's credentials stored",
    )
    return chargers


def _credentials_kept(journal: Path) -> set[str]:
    """The identities whose credentials the LC's journal holds, read beside the running LC."""
    with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
        return {identity for (identity,) in db.execute("SELECT identity FROM credentials")}


async def _csms_links_down(lc: LcProcess) -> None:
    """Wait until the LC reports every charger's CSMS link down (its /metrics)."""
    url = f"http://127.0.0.1:{lc.metrics_port}/metrics"

    async def down() -> bool:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            text = await response.text()
        links = [
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "ocpp_lc_upstream_connected"
            for sample in family.samples
        ]
        return len(links) == len(CHARGERS) and not any(links)

    await wait_until_async(down, timeout_s=15, what="every CSMS link down")


async def _all_delivered(csms: Csms, chargers: list[Charger]) -> None:
    for charger in chargers:
        expected = len(charger.all_sent())

        def delivered(c: Charger = charger, n: int = expected) -> bool:
            return len(set(ids(transaction_frames(csms.received(c.identity))))) >= n

        await wait_until(
            delivered,
            timeout_s=30,
            what=f"{charger.identity} delivered",
        )
        assert_delivered(charger, csms.received(charger.identity))
    for charger in chargers:
        await charger.close()


async def _traffic(chargers: list[Charger], rounds: int) -> None:
    for _ in range(rounds):
        for charger in chargers:
            assert charger.session is not None
            await charger.session.meter()


async def test_lc_killed_during_the_outage_loses_nothing(garage: tuple[Csms, LcProcess]) -> None:
    csms, lc = garage
    chargers = await _chargers_in_sessions(lc)
    await csms.stop()
    await _csms_links_down(lc)
    await _traffic(chargers, 3)  # answered and journaled by the LC

    await lc.kill()
    await lc.start()
    await back_after_restart(csms, chargers)


async def back_after_restart(csms: Csms, chargers: list[Charger]) -> None:
    """The chargers reconnect to the restarted LC while the CSMS is still gone, send more and
    end some transactions; then the CSMS is back and gets every frame."""
    for charger in chargers:
        await charger.connect()
    await _traffic(chargers, 2)
    for charger in chargers[::2]:
        assert charger.session is not None
        await charger.session.stop()
    await csms.start(csms.port)
    await _all_delivered(csms, chargers)


async def test_lc_killed_during_the_replay_resumes_where_it_stopped(
    garage: tuple[Csms, LcProcess],
) -> None:
    csms, lc = garage
    chargers = await _chargers_in_sessions(lc)
    await csms.stop()
    await _csms_links_down(lc)
    await _traffic(chargers, 6)

    csms.answer_delay_s = 0.15  # a slow CSMS: the replay takes a while
    await csms.start(csms.port)
    await wait_until(
        lambda: sum(len(transaction_frames(csms.received(i))) for i, _ in CHARGERS) >= 8,
        timeout_s=20,
        what="the replay under way",
    )
    await lc.kill()
    csms.answer_delay_s = 0.0
    await lc.start()
    for charger in chargers:  # back to the restarted LC, which finishes the replay first
        await charger.connect()
    await _traffic(chargers, 1)
    await _all_delivered(csms, chargers)
