"""An LC restarted during a CSMS outage delivers the backlog of a charger that never comes back.

Independent peers: the PyPI `ocpp` CSMS and charge points, over real sockets. The LC restart is
a new `Router` on the same journal file, as `run` would build it.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import websockets
from ocpp.v201 import call as call201
from prometheus_client import generate_latest

from router.offline import OfflineSettings
from router.sealed_credentials import CredentialSealer, read_key
from router.server import Router
from router.session import SessionSettings
from router.settings import HoldSettings
from tests.conftest import RouterFactory
from tests.peers import Csms, basic_auth, connect_charge_point, wait_until
from tests.router.test_hold import Session16, Session201, ids, transaction_frames
from tests.router.test_tls import Pki, pki  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(90)

StartRouter = Callable[..., Awaitable[Router]]


@pytest.fixture
def start_router(make_router: RouterFactory, tmp_path: Path) -> StartRouter:
    """Start LCs under `hold`, all on one journal file (a restart is a second start)."""
    key = tmp_path / "credentials.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)

    async def start(csms: Csms, keep_credentials: bool = False, **tls: ssl.SSLContext) -> Router:
        hold = HoldSettings(
            tmp_path / "journal.sqlite",
            OfflineSettings(redial_interval_s=0.1),
            CredentialSealer(read_key(key)) if keep_credentials else None,
        )
        session = SessionSettings(call_timeout_s=5)
        return await make_router(csms.url, session, ping_interval_s=2, hold=hold, **tls)

    return start


async def _backlog_then_restart(
    csms: Csms,
    start_router: StartRouter,
    version: str,
    password: str | None = None,
    keep_credentials: bool = False,
    pki: Pki | None = None,  # noqa: F811
) -> tuple[Router, list[str]]:
    """A charger in a session when the CSMS goes; it goes on offline, leaves, and the LC
    restarts with the CSMS still gone. Returns the new LC and the charger's transaction frames.

    With `pki`: security profile 3 on both sides (the charger's certificate towards the LC, the
    LC's own towards the CSMS)."""
    tls: dict[str, ssl.SSLContext] = {}
    charger_tls = None
    if pki is not None:
        tls = {
            "server_ssl": pki.lc_charger_side(profile_3=True),
            "upstream_ssl": pki.lc_csms_side(own_certificate=True),
        }
        charger_tls = pki.client_context(pki.issue("CP01", "cp01"))
    router = await start_router(csms, keep_credentials, **tls)
    scheme = "ws" if pki is None else "wss"
    charger = await connect_charge_point(
        f"{scheme}://127.0.0.1:{router.port}", "CP01", version, password, ssl_context=charger_tls
    )
    await charger.cp.boot()
    session = Session16(charger) if version == "ocpp1.6" else Session201(charger, "CP01")
    await session.start()
    await csms.stop()
    gauge = router.metrics.upstream_connected
    await wait_until(lambda: gauge.value("CP01") == 0, what="the CSMS link down")
    for _ in range(3):
        await session.meter()
    await session.stop()
    await session.start()  # a session started offline: 1.6 gets a provisional id
    await session.meter()
    await charger.close()  # the charger breaks and never comes back
    sent = transaction_frames(charger.recorder.sent)
    await router.stop()
    return await start_router(csms, keep_credentials, **tls), sent


async def _delivered_in_order(csms: Csms, sent: list[str]) -> None:
    """Every frame at the CSMS in the order sent; at-least-once: a repeat is only an identical
    copy of an earlier frame."""
    await wait_until(
        lambda: _first_copies(csms.received("CP01")) == ids(sent),
        timeout_s=30,
        what="the backlog at the CSMS",
    )
    first_seen: dict[str, str] = {}
    for frame in transaction_frames(csms.received("CP01")):
        assert first_seen.setdefault(ids([frame])[0], frame) == frame


def _first_copies(frames: list[str]) -> list[str]:
    return list(dict.fromkeys(ids(transaction_frames(frames))))


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_backlog_of_a_charger_without_credentials_reaches_the_csms_without_it(
    start_router: StartRouter, version: str
) -> None:
    csms = Csms()
    await csms.start()
    try:
        router, sent = await _backlog_then_restart(csms, start_router, version)
        await csms.start(csms.port)
        await _delivered_in_order(csms, sent)
        assert router.journal is not None
        await wait_until(
            lambda: not router.connected() and router.backlogs_waiting_for_charger() == set(),
            what="nothing waiting",
        )
        await journal_empty(router)
        if version == "ocpp1.6":  # the offline session's later frames carry the CSMS's id
            frames = [json.loads(f) for f in transaction_frames(csms.received("CP01"))]
            assert all(m[3]["transactionId"] > 0 for m in frames if m[2] != "StartTransaction")
        assert csms.handshakes[-1].authorization is None
        assert csms.handshakes[-1].path == "/ocpp/CP01"
    finally:
        await csms.stop()


async def journal_empty(router: Router) -> None:
    """Wait (bounded) until the journal holds no backlog and no stored handshake for CP01."""
    journal = router.journal
    assert journal is not None
    for _ in range(500):
        if not await journal.backlog_summaries() and "CP01" not in await journal.handshakes():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"backlog left: {await journal.backlog_summaries()}")


async def test_profile_3_backlog_reaches_the_csms_with_the_lcs_own_certificate(
    start_router: StartRouter,
    pki: Pki,  # noqa: F811
) -> None:
    csms = Csms(ssl_context=pki.server_context(require_client_certificate=True))
    await csms.start()
    try:
        router, sent = await _backlog_then_restart(csms, start_router, "ocpp2.0.1", pki=pki)
        await csms.start(csms.port)
        await _delivered_in_order(csms, sent)
        seen = csms.connections["CP01"].ws.transport.get_extra_info("peercert")
        assert dict(rdn[0] for rdn in seen["subject"])["commonName"] == "LC-0001"
        await journal_empty(router)
    finally:
        await csms.stop()


async def test_basic_auth_backlog_reaches_the_csms_with_kept_credentials(
    start_router: StartRouter, tmp_path: Path
) -> None:
    csms = Csms(passwords={"CP01": "secret-pw1"})
    await csms.start()
    try:
        router, sent = await _backlog_then_restart(
            csms, start_router, "ocpp1.6", password="secret-pw1", keep_credentials=True
        )
        header = basic_auth("CP01", "secret-pw1")
        on_disk = await asyncio.to_thread(_journal_bytes, tmp_path)
        assert header.encode() not in on_disk and b"secret-pw1" not in on_disk  # sealed
        await csms.start(csms.port)
        await _delivered_in_order(csms, sent)
        assert csms.handshakes[-1].authorization == header
        await journal_empty(router)  # the sealed header went with the backlog's last entry
    finally:
        await csms.stop()


async def test_without_kept_credentials_the_backlog_waits_for_its_charger_and_says_so(
    start_router: StartRouter,
) -> None:
    csms = Csms(passwords={"CP01": "pw1"})
    await csms.start()
    try:
        router, sent = await _backlog_then_restart(csms, start_router, "ocpp1.6", password="pw1")
        await csms.start(csms.port)
        waits = router.metrics.backlog_waits_for_charger
        await wait_until(
            lambda: router.backlogs_waiting_for_charger() == {"CP01"}, what="waiting said"
        )
        assert waits.value("CP01") == 1
        age = router.metrics.absent_charger_backlog_age.labels("CP01")._value.get()
        assert age > 0
        assert transaction_frames(csms.received("CP01"))[-1] != sent[-1]

        charger = await connect_charge_point(
            f"ws://127.0.0.1:{router.port}", "CP01", "ocpp1.6", password="pw1"
        )
        await _delivered_in_order(csms, sent)  # its own link delivers it
        await wait_until(lambda: not router.backlogs_waiting_for_charger(), what="not waiting")
        exposition = _exposition(router)
        assert "ocpp_lc_journal_waits_for_charger{" not in exposition
        assert "ocpp_lc_journal_absent_charger_oldest_age_seconds{" not in exposition
        await charger.close()
    finally:
        await csms.stop()


def _journal_bytes(folder: Path) -> bytes:
    """The journal's database, WAL and shared-memory files as they are on disk."""
    return b"".join(path.read_bytes() for path in folder.glob("journal.sqlite*"))


def _exposition(router: Router) -> str:
    return generate_latest(router.metrics.registry).decode()


async def test_a_charger_coming_back_during_the_replay_without_it_takes_over(
    start_router: StartRouter,
) -> None:
    csms = Csms()
    await csms.start()
    try:
        router, sent = await _backlog_then_restart(csms, start_router, "ocpp2.0.1")
        csms.answer_delay_s = 0.2  # a slow CSMS: the replay is under way when the charger comes
        await csms.start(csms.port)
        await wait_until(
            lambda: len(transaction_frames(csms.received("CP01"))) >= 3,
            timeout_s=20,
            what="the replay without the charger under way",
        )
        csms.answer_delay_s = 0.0
        charger = await connect_charge_point(f"ws://127.0.0.1:{router.port}", "CP01", "ocpp2.0.1")
        await _delivered_in_order(csms, sent)  # its own link finished the job
        heartbeat = await charger.cp.call(call201.Heartbeat())
        assert heartbeat.current_time  # answered by the CSMS over the charger's own link
        await charger.close()
    finally:
        await csms.stop()


async def test_credentials_the_csms_now_refuses_make_the_backlog_wait_for_its_charger(
    start_router: StartRouter,
) -> None:
    csms = Csms(passwords={"CP01": "old-pw"})
    await csms.start()
    try:
        router, _sent = await _backlog_then_restart(
            csms, start_router, "ocpp1.6", password="old-pw", keep_credentials=True
        )
        csms.passwords = {"CP01": "new-pw"}  # changed at the CSMS meanwhile
        await csms.start(csms.port)
        await wait_until(
            lambda: router.backlogs_waiting_for_charger() == {"CP01"},
            timeout_s=20,
            what="the backlog waiting after the refusal",
        )
        failures = router.metrics.upstream_connect_failures.labels("http_401")
        assert failures._value.get() >= 1
    finally:
        await csms.stop()


async def test_a_refused_handshake_of_that_identity_leaves_the_replay_alone(
    start_router: StartRouter,
) -> None:
    csms = Csms(passwords={"CP01": "pw1"})
    await csms.start()
    try:
        router, sent = await _backlog_then_restart(
            csms, start_router, "ocpp1.6", password="pw1", keep_credentials=True
        )
        connections_before = len(csms.history["CP01"])
        csms.answer_delay_s = 0.2  # a slow CSMS: the replay is under way during the knock
        await csms.start(csms.port)
        await wait_until(
            lambda: len(csms.history["CP01"]) > connections_before,
            timeout_s=20,
            what="the replay without the charger under way",
        )
        with pytest.raises(websockets.InvalidStatus) as refused:
            await connect_charge_point(
                f"ws://127.0.0.1:{router.port}", "CP01", "ocpp1.6", password="guess"
            )
        assert refused.value.response.status_code == 401
        await _delivered_in_order(csms, sent)
        # One CSMS link delivered it all: the knock did not end the replay.
        assert len(csms.history["CP01"]) == connections_before + 1
    finally:
        await csms.stop()
