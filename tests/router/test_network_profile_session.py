"""A CSMS's SetNetworkProfile to a charger in the sans-I/O session: observed always, relayed as
sent or, with protect_network_profiles, answered Rejected by the LC; a schema-invalid one too
(OBSERVE would otherwise relay it unseen)."""

from __future__ import annotations

import json

import pytest

from router import events as ev
from router.frames import OcppVersion
from tests.router.test_session import DOWN, UP, call, make_session, observed, sent

PROFILE = {
    "configurationSlot": 1,
    "connectionData": {
        "ocppVersion": "OCPP20",
        "ocppTransport": "JSON",
        "ocppCsmsUrl": "wss://elsewhere.example/ocpp",
        "messageTimeout": 30,
        "securityProfile": 2,
        "ocppInterface": "Wired0",
    },
}


@pytest.mark.parametrize("version", [OcppVersion.V201, OcppVersion.V21])
def test_relayed_as_sent_and_observed_by_default(version: OcppVersion) -> None:
    session = make_session(version)
    text = call("n1", "SetNetworkProfile", PROFILE)
    outputs = session.receive_from_csms(text, 0.0)
    assert sent(outputs, DOWN) == [text]
    assert sent(outputs, UP) == []
    assert observed(outputs) == [ev.NetworkProfileIntercepted("CP1", 1, False)]


@pytest.mark.parametrize("payload", [PROFILE, {"configurationSlot": "one"}])
def test_answered_rejected_by_the_lc_when_protected(payload: dict[str, object]) -> None:
    session = make_session(OcppVersion.V201, protect_network_profiles=True)
    outputs = session.receive_from_csms(call("n2", "SetNetworkProfile", payload), 0.0)
    assert sent(outputs, DOWN) == []
    [answer] = [json.loads(text) for text in sent(outputs, UP)]
    assert answer[:2] == [3, "n2"] and answer[2]["status"] == "Rejected"
    slot = 1 if payload is PROFILE else None
    intercepted = [e for e in observed(outputs) if isinstance(e, ev.NetworkProfileIntercepted)]
    assert intercepted == [ev.NetworkProfileIntercepted("CP1", slot, True)]
    # The charger's queue is free: the CSMS's next call goes straight through.
    following = call("n3", "GetVariables", {"getVariableData": []})
    assert sent(session.receive_from_csms(following, 1.0), DOWN) == [following]
