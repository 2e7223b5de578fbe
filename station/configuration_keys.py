"""The device model as OCPP 1.6 configuration keys: GetConfiguration and ChangeConfiguration
(1.6 §5.3, §5.8, §9) over the same variables and bindings as Get/SetVariables.

A variable with a standard 1.6 twin goes by the standard key's name; every other one by a
vendor key `Component[instance].Variable[instance]` (e.g. `SiteLoadBalancer.PhaseCap[L1]`),
so a 1.6 CSMS reads and changes the same settings, checked and persisted the same way.
"""

from __future__ import annotations

from typing import Any

from station.device_model import DeviceModel, Key, Variable, VariableSpec, reference
from station.link import StationLink

ROOT_CHECK = "AdditionalRootCertificateCheck"  # the same name in both versions

# Standard 1.6 keys and the device-model variable each one is.
STANDARD_KEYS: dict[str, Key] = {
    "HeartbeatInterval": ("OCPPCommCtrlr", None, "HeartbeatInterval", None),
    "SecurityProfile": ("SecurityCtrlr", None, "SecurityProfile", None),
    # The 1.6 security whitepaper's Basic-auth password (its A01), write-only as in 2.0.1.
    "AuthorizationKey": ("SecurityCtrlr", None, "BasicAuthPassword", None),
    # The LC's own meter values, with a meter: how often and what.
    "ClockAlignedDataInterval": ("SampledDataCtrlr", None, "AlignedDataInterval", None),
    "MeterValuesAlignedData": ("SampledDataCtrlr", None, "AlignedDataMeasurands", None),
    # Its certificate settings (§7), with [certificates].
    "CpoName": ("SecurityCtrlr", None, "OrganizationName", None),
    "CertificateSignedMaxChainSize": ("SecurityCtrlr", None, "MaxCertificateChainSize", None),
    "AdditionalRootCertificateCheck": (
        "SecurityCtrlr",
        None,
        "AdditionalRootCertificateCheck",
        None,
    ),
}
# Standard 1.6 keys without a device-model twin: what the LC supports, in 1.6 words.
FIXED_KEYS = {
    "SupportedFeatureProfiles": "Core,SmartCharging,RemoteTrigger",
    "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
}
KEY_LENGTH = 50  # CiString50Type
VALUE_LENGTH = 500  # CiString500Type
# SetVariables statuses in ChangeConfiguration's words; an unknown key is NotSupported.
_CHANGE_STATUS = {"Accepted": "Accepted", "RebootRequired": "RebootRequired"}


def vendor_key(spec: VariableSpec) -> str:
    def named(name: str, instance: str | None) -> str:
        return name if instance is None else f"{name}[{instance}]"

    return (
        f"{named(spec.component, spec.component_instance)}."
        f"{named(spec.variable, spec.variable_instance)}"
    )


def configuration_keys(model: DeviceModel) -> dict[str, Variable]:
    """The device model's variables by 1.6 key; one whose key would be longer than a 1.6 key
    may be (a long charger identity as its instance) is left to GetVariables."""
    standard = {key: name for name, key in STANDARD_KEYS.items()}
    keys = {}
    for variable in model.variables:
        name = standard.get(variable.spec.key) or vendor_key(variable.spec)
        if len(name) <= KEY_LENGTH:
            keys[name] = variable
    return keys


class ConfigurationCalls:
    def __init__(self, model: DeviceModel) -> None:
        self._model = model
        self._keys = configuration_keys(model)

    def register(self, station: StationLink) -> None:
        station.register("GetConfiguration", self.get_configuration)
        station.register("ChangeConfiguration", self.change_configuration)

    def get_configuration(self, payload: dict[str, Any]) -> dict[str, Any]:
        asked = payload.get("key") or [*FIXED_KEYS, *self._keys]
        known = [entry for key in asked if (entry := self._entry(key)) is not None]
        unknown = [key for key in asked if key not in FIXED_KEYS and key not in self._keys]
        answer: dict[str, Any] = {"configurationKey": known} if known else {}
        if unknown:
            answer["unknownKey"] = unknown
        return answer

    def _entry(self, key: str) -> dict[str, Any] | None:
        if key in FIXED_KEYS:
            return {"key": key, "readonly": True, "value": FIXED_KEYS[key]}
        variable = self._keys.get(key)
        if variable is None:
            return None
        entry: dict[str, Any] = {"key": key, "readonly": variable.spec.mutability == "ReadOnly"}
        result = self._model.get(reference(variable.spec))
        if "attributeValue" in result:  # a WriteOnly one is not read back
            entry["value"] = result["attributeValue"][:VALUE_LENGTH]
        return entry

    def change_configuration(self, payload: dict[str, Any]) -> dict[str, Any]:
        key = payload["key"]
        if key in FIXED_KEYS:
            return {"status": "Rejected"}  # read-only
        variable = self._keys.get(key)
        if variable is None:
            return {"status": "NotSupported"}
        item = {**reference(variable.spec), "attributeValue": payload["value"]}
        status = self._model.set(item)["attributeStatus"]
        return {"status": _CHANGE_STATUS.get(status, "Rejected")}
