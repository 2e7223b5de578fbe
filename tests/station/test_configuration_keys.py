"""The device model as 1.6 configuration keys, pure: names, read-only flags, and what a key
that cannot be a 1.6 key becomes."""

from __future__ import annotations

from station.configuration_keys import ConfigurationCalls
from station.device_model import Binding, DeviceModel, Variable, VariableSpec, constant

LONG_IDENTITY = "CP-" + "X" * 40  # a valid charger identity, too long inside a 1.6 key


def model(written: list[str]) -> DeviceModel:
    def write(text: str) -> str:
        written.append(text)
        return "Accepted"

    return DeviceModel(
        [
            Variable(
                VariableSpec("OCPPCommCtrlr", "HeartbeatInterval", "ReadWrite", "integer"),
                Binding(lambda: "300", write),
            ),
            Variable(
                VariableSpec(
                    "SiteLoadBalancer", "SafeCurrent", "ReadWrite", "decimal", "A", "CP-1"
                ),
                Binding(lambda: "6", write),
            ),
            Variable(
                VariableSpec(
                    "SiteLoadBalancer", "SafeCurrent", "ReadWrite", "decimal", "A", LONG_IDENTITY
                ),
                Binding(lambda: "6", write),
            ),
            Variable(
                VariableSpec("SecurityCtrlr", "BasicAuthPassword", "WriteOnly"),
                Binding(lambda: "secret", write),
            ),
            Variable(
                VariableSpec(
                    "DistributionPanel", "Fuse", variable_instance="1", component_instance="Level-1"
                ),
                constant("80"),
            ),
        ]
    )


def test_keys_are_standard_or_vendor_names_and_long_ones_are_left_out() -> None:
    calls = ConfigurationCalls(model([]))
    every = calls.get_configuration({})
    entries = {entry["key"]: entry for entry in every["configurationKey"]}
    assert entries["HeartbeatInterval"] == {
        "key": "HeartbeatInterval",
        "readonly": False,
        "value": "300",
    }
    assert entries["DistributionPanel[Level-1].Fuse[1]"]["readonly"] is True
    assert entries["SupportedFeatureProfiles"]["readonly"] is True
    # Write-only: listed, never read back.
    assert entries["SecurityCtrlr.BasicAuthPassword"] == {
        "key": "SecurityCtrlr.BasicAuthPassword",
        "readonly": False,
    }
    assert all(len(key) <= 50 for key in entries)
    assert not any(LONG_IDENTITY in key for key in entries)
    assert "unknownKey" not in every


def test_change_statuses_in_16_words() -> None:
    written: list[str] = []
    calls = ConfigurationCalls(model(written))
    changes = {
        ("SiteLoadBalancer.SafeCurrent[CP-1]", "8"): "Accepted",
        ("SiteLoadBalancer.SafeCurrent[CP-1]", "eight"): "Rejected",
        ("DistributionPanel[Level-1].Fuse[1]", "63"): "Rejected",
        ("ChargingScheduleAllowedChargingRateUnit", "Current"): "Rejected",
        ("NoSuchKey", "1"): "NotSupported",
    }
    answered = {
        change: calls.change_configuration({"key": change[0], "value": change[1]})["status"]
        for change in changes
    }
    assert answered == changes
    assert written == ["8"]
    assert calls.get_configuration({"key": ["NoSuchKey"]}) == {"unknownKey": ["NoSuchKey"]}
