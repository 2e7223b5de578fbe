"""AttemptedReplayAttacks on the LC's own link: OCPP-J wants a new message ID for every call,
retries included (Part 4 §4.1.4), so a CSMS call whose ID the LC saw before is a replay. The
PyPI-ocpp CSMS sends one call twice with the same ID: the LC answers the first, refuses the
second with SecurityError without acting on it, and logs the event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ocpp.exceptions import SecurityError
from ocpp.v201 import call as call201

from tests.peers import wait_until
from tests.station.csms_for_lc import IDENTITY, CsmsForLc, accepted_lc, station_config

pytestmark = pytest.mark.timeout(60)


async def test_a_call_with_a_message_id_seen_before_is_refused_and_logged(
    csms: CsmsForLc, tmp_path: Path
) -> None:
    async with accepted_lc(station_config(csms, tmp_path)) as (lc, _link):
        identity = call201.GetVariables(
            get_variable_data=[
                {"component": {"name": "LocalController"}, "variable": {"name": "Identity"}}
            ]
        )
        first = await csms.station.call(identity, unique_id="replayed-id-1")
        assert first.get_variable_result[0]["attribute_value"] == IDENTITY
        with pytest.raises(SecurityError):
            await csms.station.call(identity, suppress=False, unique_id="replayed-id-1")
        events = lc.security.events.log.events
        await wait_until(
            lambda: any(e.type == "AttemptedReplayAttacks" for e in events), 10, "the event"
        )
        [replay] = [e for e in events if e.type == "AttemptedReplayAttacks"]
        assert "GetVariables" in replay.tech_info and "replayed-id-1" in replay.tech_info
        # Another ID is answered as usual.
        again = await csms.station.call(identity, unique_id="fresh-id-2")
        assert again.get_variable_result[0]["attribute_value"] == IDENTITY
        answers = [json.loads(text) for text in csms.connections[-1].sent]
        assert [a[1] for a in answers if a[0] == 2].count("replayed-id-1") == 2
