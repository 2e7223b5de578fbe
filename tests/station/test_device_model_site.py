"""The site in the LC's device model: the distribution panels from the config file (read-only)
and the chargers' safe and minimum currents (writable, kept, applied to the running balancer
and shown on the status page), read and set by a PyPI-`ocpp` CSMS, 2.0.1 and 1.6, over real
sockets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from modbus.simulator import SimulatedMeter
from tests.peers import running
from tests.station.csms16_for_lc import CsmsForLc16, change_configuration
from tests.station.csms_for_lc import CsmsForLc
from tests.station.garage_for_lc import LcRunner, accepted
from tests.station.test_device_model import site_config

pytestmark = pytest.mark.timeout(60)

PANELS = [
    {"name": "Level-1", "fuse_a": 25, "chargers": ["CP-A"]},
    {"name": "Level-1a", "parent": "Level-1", "fuse_a": [20, 20, 16]},
]


def item(
    component: str, variable: str, instance: str | None = None, panel: str | None = None
) -> dict[str, Any]:
    return {
        "component": {"name": component} | ({"instance": panel} if panel else {}),
        "variable": {"name": variable} | ({"instance": instance} if instance else {}),
    }


def panel_site(csms: CsmsForLc, meter: SimulatedMeter, folder: Path) -> dict[str, Any]:
    return site_config(csms, meter, folder, cap=32) | {"panels": PANELS}


async def test_panels_are_read_only_variables_from_the_config(
    csms: CsmsForLc, meter: SimulatedMeter, lcs: LcRunner, tmp_path: Path
) -> None:
    await accepted(await lcs.start(panel_site(csms, meter, tmp_path)))
    asked = [
        item("LocalController", "DistributionPanel"),
        item("DistributionPanel", "Fuse", "1", panel="Level-1"),
        item("DistributionPanel", "Fuse", "3", panel="Level-1a"),
        item("DistributionPanel", "ChargingStation", panel="Level-1"),
        item("DistributionPanel", "DistributionPanel", panel="Level-1"),
        item("DistributionPanel", "Fuse", "1", panel="Basement"),
        item("DistributionPanel", "Fuse", "4", panel="Level-1"),
        item("DistributionPanel", "Fuse", "1", panel="Level-1") | {"attributeType": "MaxSet"},
    ]
    got = await csms.station.call(call201.GetVariables(get_variable_data=asked))
    results = [(r["attribute_status"], r.get("attribute_value")) for r in got.get_variable_result]
    assert results == [
        ("Accepted", "Level-1"),
        ("Accepted", "25"),
        ("Accepted", "16"),
        ("Accepted", "CP-A"),
        ("Accepted", "Level-1a"),
        ("UnknownComponent", None),
        ("UnknownVariable", None),
        ("NotSupportedAttributeType", None),
    ]
    fuse = item("DistributionPanel", "Fuse", "1", panel="Level-1") | {"attributeValue": "63"}
    refused = await csms.station.call(call201.SetVariables(set_variable_data=[fuse]))
    (result,) = refused.set_variable_result
    assert (result["attribute_status"], result["attribute_status_info"]["reason_code"]) == (
        "Rejected",
        "ReadOnly",
    )


async def test_safe_and_min_current_change_the_running_balancer_and_are_kept(
    csms: CsmsForLc, meter: SimulatedMeter, lcs: LcRunner, tmp_path: Path
) -> None:
    lc = await lcs.start(panel_site(csms, meter, tmp_path))
    await accepted(lc)
    changes = [
        ("SafeCurrent", "CP-A", "8", "Accepted"),
        ("MinCurrent", "CP-A", "40", "Rejected"),  # beyond 32 A
        ("SafeCurrent", "CP-A", "17", "Rejected"),  # above the charger's maximum (16 A)
        ("MinCurrent", "CP-A", "7", "Accepted"),
        ("SafeCurrent", "*", "6", "Accepted"),  # the chargers the config does not list
        ("SafeCurrent", "CP-Z", "6", "UnknownVariable"),  # not listed: only through "*"
    ]
    answer = await csms.station.call(
        call201.SetVariables(
            set_variable_data=[
                item("SiteLoadBalancer", variable, instance) | {"attributeValue": value}
                for variable, instance, value, _ in changes
            ]
        )
    )
    statuses = [r["attribute_status"] for r in answer.set_variable_result]
    assert statuses == [status for *_, status in changes]
    balancer = lc.balancer
    assert balancer is not None
    charger = balancer.config.charger("CP-A")
    assert (charger.safe_current_a, charger.min_current_a) == (8, 7)
    assert balancer.config.charger("CP-Z").safe_current_a == 6
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{lc.metrics_port}/") as page,
    ):
        text = await page.text()
    assert "<td>SiteLoadBalancer.SafeCurrent[CP-A]</td><td>8</td><td>6</td>" in text

    await lcs.stop(lc)
    again = await lcs.start(panel_site(csms, meter, tmp_path))
    assert again.balancer is not None
    kept = again.balancer.config.charger("CP-A")
    assert (kept.safe_current_a, kept.min_current_a) == (8, 7)


async def test_a_16_csms_reads_the_site_as_configuration_keys(
    meter: SimulatedMeter, lcs: LcRunner, tmp_path: Path
) -> None:
    async with running(CsmsForLc16()) as csms16:
        config = panel_site(csms16, meter, tmp_path)
        config["station"]["ocpp_version"] = "1.6"
        lc = await lcs.start(config)
        await accepted(lc)
        lc_at_csms = csms16.station16
        got = await lc_at_csms.call(
            call16.GetConfiguration(
                key=["DistributionPanel[Level-1].Fuse[2]", "SiteLoadBalancer.SafeCurrent[CP-A]"]
            )
        )
        assert got.configuration_key == [
            {"key": "DistributionPanel[Level-1].Fuse[2]", "readonly": True, "value": "25"},
            {"key": "SiteLoadBalancer.SafeCurrent[CP-A]", "readonly": False, "value": "6"},
        ]
        changes = [
            ("DistributionPanel[Level-1].Fuse[2]", "63", "Rejected"),
            ("SiteLoadBalancer.SafeCurrent[CP-A]", "much", "Rejected"),
            ("SiteLoadBalancer.SafeCurrent[CP-A]", "10", "Accepted"),
        ]
        await change_configuration(lc_at_csms, changes)
        assert lc.balancer is not None
        assert lc.balancer.config.charger("CP-A").safe_current_a == 10
