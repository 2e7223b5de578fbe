"""The site meter as the LC's own MeterValues on EVSE 0 (1.6: connector 0), received by a
PyPI-`ocpp` CSMS at the clock-aligned interval of its device model (1.6: its configuration
key), with the pymodbus meter's values."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from modbus.simulator import SimulatedMeter
from ocpp_knowledge.ocpp_time import from_ocpp_time
from station.session import LinkState
from tests.peers import wait_until
from tests.station.csms16_for_lc import CsmsForLc16, change_configuration
from tests.station.csms_for_lc import CsmsForLc, accepted_lc, station_config
from tests.station.garage_for_lc import Stops, metered_config

pytestmark = pytest.mark.timeout(60)

CURRENTS = (12.5, 8.0, 3.25)
POWER_W = 5400.0
ENERGY_WH = 123_500.0


async def sampled_config(
    csms: CsmsForLc, stack: Stops, tmp_path: Path, interval_s: int
) -> dict[str, Any]:
    meter = SimulatedMeter("eastron_sdm630")
    meter.set_reading(currents=CURRENTS, power_w=POWER_W, energy_wh=ENERGY_WH)
    config = await metered_config(csms, stack, tmp_path, meter)
    config["station"]["aligned_data_interval_s"] = interval_s
    return config


def sampled(values: dict[str, Any]) -> dict[tuple[str, str | None], float]:
    [meter_value] = values["meter_value"]
    return {
        (sample["measurand"], sample.get("phase")): sample["value"]
        for sample in meter_value["sampled_value"]
    }


def set_variable(name: str, value: str) -> call201.SetVariables:
    return call201.SetVariables(
        set_variable_data=[
            {
                "component": {"name": "SampledDataCtrlr"},
                "variable": {"name": name},
                "attribute_value": value,
            }
        ]
    )


async def test_the_csms_receives_the_meter_at_the_aligned_interval_it_sets(
    csms: CsmsForLc, stack: Stops, tmp_path: Path
) -> None:
    config = await sampled_config(csms, stack, tmp_path, 0)
    async with accepted_lc(config):
        triggered = await csms.station.call(call201.TriggerMessage(requested_message="MeterValues"))
        assert triggered.status == "Accepted"
        await wait_until(lambda: bool(csms.meter_values), 10, "the triggered MeterValues")
        [on_request] = csms.meter_values
        contexts = {s["context"] for s in on_request["meter_value"][0]["sampled_value"]}
        assert contexts == {"Trigger"} and len(sampled(on_request)) == 5
        csms.meter_values.clear()

        answer = await csms.station.call(set_variable("AlignedDataInterval", "1"))
        assert answer.set_variable_result[0]["attribute_status"] == "Accepted"
        await wait_until(lambda: len(csms.meter_values) >= 2, 10, "two MeterValues")
        first = csms.meter_values[0]
        assert first["evse_id"] == 0
        assert sampled(first) == {
            ("Current.Import", "L1"): CURRENTS[0],
            ("Current.Import", "L2"): CURRENTS[1],
            ("Current.Import", "L3"): CURRENTS[2],
            ("Power.Active.Import", None): POWER_W,
            ("Energy.Active.Import.Register", None): ENERGY_WH,
        }
        stamps = [from_ocpp_time(v["meter_value"][0]["timestamp"]) for v in csms.meter_values]
        assert all(stamp.microsecond == 0 for stamp in stamps)  # on whole seconds: aligned

        answer = await csms.station.call(
            set_variable("AlignedDataMeasurands", "Power.Active.Import")
        )
        assert answer.set_variable_result[0]["attribute_status"] == "Accepted"
        seen = len(csms.meter_values)
        await wait_until(lambda: len(csms.meter_values) >= seen + 2, 10, "more MeterValues")
        assert sampled(csms.meter_values[-1]) == {("Power.Active.Import", None): POWER_W}

        refused = await csms.station.call(set_variable("AlignedDataMeasurands", "Voltage"))
        assert refused.set_variable_result[0]["attribute_status"] == "Rejected"


async def test_none_is_sent_for_the_time_the_boot_is_pending(
    csms: CsmsForLc, stack: Stops, tmp_path: Path
) -> None:
    csms.boot_answers = [("Pending", 3), ("Accepted", 300)]
    config = await sampled_config(csms, stack, tmp_path, 1)
    async with accepted_lc(config) as (lc, link):
        accepted_at = time.time()
        assert lc.own_meter_values is not None and link.session.state is LinkState.ACCEPTED
        await wait_until(lambda: len(csms.meter_values) >= 2, 10, "MeterValues once Accepted")
    stamps = [from_ocpp_time(v["meter_value"][0]["timestamp"]) for v in csms.meter_values]
    # Samples of the pending seconds would have been queued and sent after the Accepted boot.
    assert min(stamp.timestamp() for stamp in stamps) > accepted_at - 1.0


async def test_without_a_meter_the_lc_has_no_sampled_data(csms: CsmsForLc, tmp_path: Path) -> None:
    async with accepted_lc(station_config(csms, tmp_path)) as (lc, _link):
        assert lc.own_meter_values is None
        answer = await csms.station.call(
            call201.GetVariables(
                get_variable_data=[
                    {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": name}}
                    for name in ("Enabled", "AlignedDataInterval")
                ]
            )
        )
    enabled, interval = answer.get_variable_result
    assert (enabled["attribute_status"], enabled["attribute_value"]) == ("Accepted", "false")
    assert interval["attribute_status"] == "UnknownVariable"


async def test_a_1_6_csms_receives_the_meter_on_connector_0_at_its_clock_aligned_interval(
    csms16: CsmsForLc16, stack: Stops, tmp_path: Path
) -> None:
    config = await sampled_config(csms16, stack, tmp_path, 0)
    config["station"]["ocpp_version"] = "1.6"
    async with accepted_lc(config):
        station = csms16.station16
        for trigger in (
            call16.TriggerMessage(requested_message="MeterValues", connector_id=0),
            call16.ExtendedTriggerMessage(requested_message="MeterValues"),
        ):
            assert (await station.call(trigger)).status == "Accepted"
        refused = call16.TriggerMessage(requested_message="MeterValues", connector_id=1)
        assert (await station.call(refused)).status == "Rejected"  # no connector of its own
        await wait_until(lambda: len(csms16.meter_values) == 2, 10, "the triggered MeterValues")
        contexts = {
            s["context"] for v in csms16.meter_values for s in v["meter_value"][0]["sampled_value"]
        }
        assert contexts == {"Trigger"}
        csms16.meter_values.clear()

        await change_configuration(
            station,
            [
                ("MeterValuesAlignedData", "Power.Active.Import,Current.Import", "Accepted"),
                ("MeterValuesAlignedData", "Voltage", "Rejected"),
                ("ClockAlignedDataInterval", "1", "Accepted"),
            ],
        )
        await wait_until(lambda: len(csms16.meter_values) >= 2, 10, "two MeterValues")
        first = csms16.meter_values[0]
        assert first["connector_id"] == 0
        [meter_value] = first["meter_value"]
        assert [
            (s["measurand"], s.get("phase"), s["value"], s["unit"], s["context"])
            for s in meter_value["sampled_value"]
        ] == [
            ("Power.Active.Import", None, "5400", "W", "Sample.Clock"),
            ("Current.Import", "L1", "12.5", "A", "Sample.Clock"),
            ("Current.Import", "L2", "8", "A", "Sample.Clock"),
            ("Current.Import", "L3", "3.25", "A", "Sample.Clock"),
        ]
        keys = ["ClockAlignedDataInterval", "MeterValuesAlignedData"]
        configuration = await station.call(call16.GetConfiguration(key=keys))
        assert {e["key"]: e["value"] for e in configuration.configuration_key} == {
            "ClockAlignedDataInterval": "1",
            "MeterValuesAlignedData": "Power.Active.Import,Current.Import",
        }
    # Kept like 2.0.1's AlignedDataInterval: the next start samples at the CSMS's interval.
    async with accepted_lc(config) as (lc, _link):
        assert lc.own_meter_values is not None and lc.own_meter_values.interval_s == 1
