"""Path and identity tricks in a charger's handshake (Part 4 §6.2; OCPP identifierString).

Raw HTTP requests over real sockets, so each trick reaches the LC exactly as written; the CSMS
is a PyPI-`ocpp` one that records every handshake it gets.
"""

from __future__ import annotations

import pytest

from router.charger_path import BadChargerPath, parse_charger_path
from tests.conftest import RouterFactory, lc_url
from tests.peers import Csms, connect_charge_point, http_status

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    "target",
    [
        "/ocpp/../../admin/T2",  # would reach /admin/T2 at the CSMS: another tenant's path
        "/ocpp/./T2",
        "/ocpp/%2e%2E/admin/T2",  # dot segments in disguise
        "/ocpp/a%2Fb",  # the identity "a/b"
        "/ocpp/a%2fb",
        "/ocpp/a%5Cb",
        "/ocpp/a\\b",
        "/ocpp/CP%FF%FE",  # not UTF-8 (would become U+FFFD)
        "/ocpp/CP%C3%A9",  # UTF-8, but not ASCII
        "/ocpp/CP%201",  # a space
        "/ocpp/CP%091",  # a tab
        "/ocpp/" + "A" * 49,
        "/ocpp/" + "A" * 8000,  # a journal key and a metric label
        "/",
    ],
)
async def test_a_path_trick_gets_400_and_never_reaches_the_csms(
    csms: Csms, make_router: RouterFactory, target: str
) -> None:
    router = await make_router(csms.url)
    assert router.port is not None
    assert await http_status(router.port, target) == 400
    assert csms.handshakes == []
    refusals = router.metrics.charger_refusals
    assert (
        refusals.labels("bad_path")._value.get() + refusals.labels("bad_identity")._value.get() == 1
    )
    charger = await connect_charge_point(lc_url(router), "CP1", "ocpp1.6")  # others still work
    await charger.close()


async def test_a_raw_space_in_the_request_target_gets_400(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url)
    assert router.port is not None
    assert await http_status(router.port, "/ocpp/CP 1") == 400
    assert csms.handshakes == []


async def test_the_csms_sees_exactly_the_path_the_charger_sent(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url)
    assert router.port is not None
    longest = "B" * 48
    assert await http_status(router.port, "/ocpp/CP%2D1") == 101
    assert await http_status(router.port, f"/ocpp/{longest}") == 101
    assert await http_status(router.port, "/ocpp/CP*-_=:+|@.1") == 101
    # Not decoded, not normalised: the escapes as sent, the identity decoded once.
    assert [handshake.path for handshake in csms.handshakes] == [
        "/ocpp/CP%2D1",
        f"/ocpp/{longest}",
        "/ocpp/CP*-_=:+|@.1",
    ]


def test_the_identity_is_percent_decoded_once() -> None:
    assert parse_charger_path("/ocpp/CP%252D1?x=1").identity == "CP%2D1"
    assert parse_charger_path("/ocpp/CP%2D1/").identity == "CP-1"
    assert parse_charger_path("/a/b/CP1").path == "/a/b/CP1"
    with pytest.raises(BadChargerPath):
        parse_charger_path("ocpp/CP1")
