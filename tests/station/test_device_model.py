"""The LC's device model (B05–B08): the pure model, the kept settings, and a CSMS built on the
PyPI `ocpp` package configuring a running LC with a load balancer over real sockets."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call as call201

from lc.app import LocalController
from modbus.simulator import SimulatedMeter
from station.device_model import Binding, DeviceModel, Variable, VariableSpec, constant
from station.overrides import Overrides
from station.session import LinkState
from tests.peers import wait_until
from tests.station.csms_for_lc import IDENTITY, CsmsForLc, station_config
from tests.station.garage_for_lc import LcRunner, accepted


def _item(component: str, variable: str, **more: Any) -> dict[str, Any]:
    return {"component": {"name": component}, "variable": {"name": variable}, **more}


def small_model() -> tuple[DeviceModel, list[str]]:
    written: list[str] = []

    def write(text: str) -> str:
        written.append(text)
        return "Accepted"

    model = DeviceModel(
        [
            Variable(VariableSpec("LocalController", "Identity"), constant("LC-1")),
            Variable(
                VariableSpec("LocalController", "Enabled", data_type="boolean"), constant("true")
            ),
            Variable(
                VariableSpec("SiteLoadBalancer", "Margin", "ReadWrite", "decimal", "A"),
                Binding(lambda: "1", write),
            ),
            Variable(
                VariableSpec("SecurityCtrlr", "BasicAuthPassword", "WriteOnly"),
                Binding(lambda: "x", write),
            ),
        ]
    )
    return model, written


@pytest.mark.parametrize(
    ("item", "status"),
    [
        (_item("LocalController", "Identity"), "Accepted"),
        (_item("NoSuchComponent", "Identity"), "UnknownComponent"),
        (_item("LocalController", "NoSuchVariable"), "UnknownVariable"),
        (_item("LocalController", "Identity", attributeType="Target"), "NotSupportedAttributeType"),
        (_item("SecurityCtrlr", "BasicAuthPassword"), "Rejected"),  # write-only
    ],
)
def test_get_variable_statuses(item: dict[str, Any], status: str) -> None:
    model, _ = small_model()
    result = model.get(item)
    assert result["attributeStatus"] == status
    assert ("attributeValue" in result) == (status == "Accepted")


@pytest.mark.parametrize(
    ("item", "status", "reason"),
    [
        (_item("SiteLoadBalancer", "Margin", attributeValue="2.5"), "Accepted", None),
        (_item("SiteLoadBalancer", "Margin", attributeValue="lots"), "Rejected", "InvalidValue"),
        (_item("LocalController", "Identity", attributeValue="X"), "Rejected", "ReadOnly"),
        (_item("Nope", "Margin", attributeValue="1"), "UnknownComponent", None),
        (_item("SiteLoadBalancer", "Nope", attributeValue="1"), "UnknownVariable", None),
        (
            _item("SiteLoadBalancer", "Margin", attributeValue="1", attributeType="MaxSet"),
            "NotSupportedAttributeType",
            None,
        ),
    ],
)
def test_set_variable_statuses(item: dict[str, Any], status: str, reason: str | None) -> None:
    model, written = small_model()
    result = model.set(item)
    assert result["attributeStatus"] == status
    assert result.get("attributeStatusInfo", {}).get("reasonCode") == reason
    assert written == (["2.5"] if status == "Accepted" else [])


def test_reports_by_base_and_by_criteria() -> None:
    model, _ = small_model()
    configuration = [v.spec.variable for v in model.base_report("ConfigurationInventory")]
    assert configuration == ["Margin", "BasicAuthPassword"]
    assert [v.spec.variable for v in model.base_report("SummaryInventory")] == ["Enabled"]
    enabled = model.report(["Enabled"], [])
    assert {v.spec.component for v in enabled} == {"LocalController"}
    wanted = [{"component": {"name": "SiteLoadBalancer"}}]
    assert [v.spec.variable for v in model.report([], wanted)] == ["Margin"]
    assert model.report(["Problem"], []) == []
    password = model.report_data(model.base_report("ConfigurationInventory")[1])
    assert "value" not in password["variableAttribute"][0]  # write-only is never reported


def test_kept_settings_are_private_and_the_later_change_wins(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    Overrides(path).set("SiteLoadBalancer.Margin", "3", file_value="1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = Overrides(path)
    assert kept.effective("SiteLoadBalancer.Margin", "1") == "3"  # the file unchanged
    assert kept.effective("SiteLoadBalancer.Margin", "2") == "2"  # the file changed since
    assert Overrides(path).effective("SiteLoadBalancer.Margin", "1") == "1"  # and it stays so
    assert json.loads(path.read_text()) == {}


# -- over real sockets --------------------------------------------------------------------


def site_config(csms: CsmsForLc, meter: SimulatedMeter, folder: Path, cap: float) -> dict[str, Any]:
    """The LC with a load balancer for one charger, on a grid cap of `cap` A per phase."""
    return station_config(csms, folder) | {
        "site": {"phase_cap_a": cap, "margin_a": 1.0},
        "meter": {"map": "eastron_sdm630", "host": "127.0.0.1", "port": meter.link.port},
        "chargers": [{"identity": "CP-A", "max_current_a": 16, "safe_current_a": 6}],
    }


def _cap(lc: LocalController) -> tuple[float, float, float]:
    assert lc.balancer is not None
    return lc.balancer.config.phase_cap_a


async def test_pending_lc_configured_by_set_variables_then_accepted_and_kept(
    csms: CsmsForLc, meter: SimulatedMeter, lcs: LcRunner, tmp_path: Path
) -> None:
    csms.boot_answers = [("Pending", 1), ("Accepted", 300)]
    lc = await lcs.start(site_config(csms, meter, tmp_path, cap=32))
    station = lc.station
    assert station is not None
    await wait_until(lambda: station.session.state is LinkState.PENDING, 10, "Pending")
    answer = await csms.station.call(
        call201.SetVariables(
            set_variable_data=[
                _item("SiteLoadBalancer", "PhaseCap", attributeValue="25")
                | {"variable": {"name": "PhaseCap", "instance": "L2"}},
                _item("SiteLoadBalancer", "Margin", attributeValue="-1"),
                _item("LocalController", "Identity", attributeValue="other"),
                _item("SiteLoadBalancer", "PhaseCap", attributeValue="3")
                | {
                    "variable": {"name": "PhaseCap", "instance": "L1"}
                },  # safe currents no longer fit
            ]
        )
    )
    statuses = [result["attribute_status"] for result in answer.set_variable_result]
    assert statuses == ["Accepted", "Rejected", "Rejected", "Rejected"]
    assert _cap(lc) == (32, 25, 32)  # the running balancer, as a SIGHUP reload would
    await accepted(lc)
    got = await csms.station.call(
        call201.GetVariables(
            get_variable_data=[
                {
                    "component": {"name": "SiteLoadBalancer"},
                    "variable": {"name": "PhaseCap", "instance": "L2"},
                },
                _item("LocalController", "Identity"),
                _item("LocalController", "ChargingStation"),
            ]
        )
    )
    values = [result.get("attribute_value") for result in got.get_variable_result]
    assert values == ["25", IDENTITY, ""]
    await lcs.stop(lc)
    # Kept across a restart while the config file says what it said; a file change wins.
    again = await lcs.start(site_config(csms, meter, tmp_path, cap=32))
    assert _cap(again) == (32, 25, 32)
    await lcs.stop(again)
    edited = await lcs.start(site_config(csms, meter, tmp_path, cap=30))
    assert _cap(edited) == (30, 30, 30)


async def test_full_inventory_comes_in_parts_after_the_answer(
    csms: CsmsForLc, meter: SimulatedMeter, lcs: LcRunner, tmp_path: Path
) -> None:
    lc = await lcs.start(site_config(csms, meter, tmp_path, cap=32))
    await accepted(lc)
    answer = await csms.station.call(
        call201.GetBaseReport(request_id=7, report_base="FullInventory")
    )
    assert answer.status == "Accepted"
    await wait_until(lambda: csms.reports and not csms.reports[-1]["tbc"], 10, "the last part")
    assert [r["seq_no"] for r in csms.reports] == list(range(len(csms.reports)))
    assert len(csms.reports) >= 2 and {r["request_id"] for r in csms.reports} == {7}
    assert all(len(r["report_data"]) <= 20 for r in csms.reports)
    reported = {
        (d["component"]["name"], d["variable"]["name"], d["variable"].get("instance"))
        for r in csms.reports
        for d in r["report_data"]
    }
    assert ("LocalController", "Model", None) in reported
    assert ("SiteLoadBalancer", "PhaseCap", "L3") in reported
    # The frame order on the wire: the answer to GetBaseReport before the first NotifyReport.
    order = [json.loads(text)[0] for text in csms.connections[-1].received]
    assert order.index(3, 1) < len(order) - 1 - order[::-1].index(2)
    empty = await csms.station.call(call201.GetReport(request_id=8, component_criteria=["Problem"]))
    assert empty.status == "EmptyResultSet"
    some = await csms.station.call(
        call201.GetReport(request_id=9, component_variable=[{"component": {"name": "ClockCtrlr"}}])
    )
    assert some.status == "Accepted"
    await wait_until(lambda: csms.reports[-1]["request_id"] == 9, 10, "report 9")
    names = {d["variable"]["name"] for d in csms.reports[-1]["report_data"]}
    assert names == {"DateTime", "TimeSource", "TimeAdjustmentReportingThreshold"}
