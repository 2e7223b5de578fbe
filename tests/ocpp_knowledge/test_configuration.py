"""Charger settings by name in each version, and their values read totally."""

from __future__ import annotations

from ocpp_knowledge.configuration import (
    MAX_STACK_LEVEL,
    SMART_CHARGING_ENABLED,
    STOP_TX_ON_INVALID_ID,
    configuration_query,
    configuration_values,
)

SETTINGS = (SMART_CHARGING_ENABLED, MAX_STACK_LEVEL)


def test_a_setting_1_6_does_not_have_is_not_asked_and_never_read() -> None:
    assert configuration_query(True, SETTINGS) == (
        "GetConfiguration",
        {"key": ["ChargeProfileMaxStackLevel"]},
    )
    # An entry without a key must not pass for the setting that has no 1.6 key.
    answer = {"configurationKey": [{"readonly": True, "value": "false"}]}
    assert configuration_values(True, SETTINGS, answer) == {
        SMART_CHARGING_ENABLED: None,
        MAX_STACK_LEVEL: None,
    }


def test_values_that_are_not_text_are_none() -> None:
    answer16 = {"configurationKey": [{"key": "ChargeProfileMaxStackLevel", "value": 5}]}
    assert configuration_values(True, [MAX_STACK_LEVEL], answer16) == {MAX_STACK_LEVEL: None}
    answer201 = {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "component": {"name": "SmartChargingCtrlr"},
                "variable": {"name": "ProfileStackLevel"},
                "attributeValue": ["5"],
            }
        ]
    }
    assert configuration_values(False, [MAX_STACK_LEVEL], answer201) == {MAX_STACK_LEVEL: None}


def test_a_2_0_1_variable_counts_only_under_its_component() -> None:
    answer = {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "component": {"name": "SmartChargingCtrlr"},
                "variable": {"name": "StopTxOnInvalidId"},
                "attributeValue": "false",
            }
        ]
    }
    assert configuration_values(False, [STOP_TX_ON_INVALID_ID], answer) == {
        STOP_TX_ON_INVALID_ID: None
    }
