"""The LC's device model (OCPP 2.0.1 B05–B08), pure: variables as rows of data, their values
read from and written to bindings the LC gives.

A `VariableSpec` row says what a variable is (component, name, instance, mutability, data type,
unit); a `Binding` says where its value lives: `read() -> text` and, for a writable one,
`write(text) -> SetVariableStatus` (it checks and applies the value). The model answers
GetVariables / SetVariables items and builds report data; it knows nothing of the wire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Key = tuple[str, str | None, str, str | None]  # component, its instance, variable, its instance

# Base reports (B07): which mutabilities each one lists; the summary lists the variables that
# say whether a component is there and working.
_CONFIGURATION = ("ReadWrite", "WriteOnly")
SUMMARY_VARIABLES = ("Available", "Enabled", "Problem")
CRITERIA = ("Active", "Available", "Enabled", "Problem")


@dataclass(frozen=True, slots=True)
class VariableSpec:
    component: str
    variable: str
    mutability: str = "ReadOnly"  # ReadOnly, ReadWrite, WriteOnly
    data_type: str = "string"  # string, decimal, integer, dateTime, boolean, MemberList, ...
    unit: str | None = None
    variable_instance: str | None = None
    component_instance: str | None = None
    # The value survives a restart: a CSMS's change is kept (see station.overrides).
    persistent: bool = False

    @property
    def key(self) -> Key:
        return (self.component, self.component_instance, self.variable, self.variable_instance)


@dataclass(frozen=True, slots=True)
class Binding:
    read: Callable[[], str]
    write: Callable[[str], str] | None = None  # the value as text -> a SetVariableStatus


def constant(value: str) -> Binding:
    return Binding(lambda: value)


@dataclass(frozen=True, slots=True)
class Variable:
    spec: VariableSpec
    binding: Binding


def parse_value(data_type: str, text: str) -> Any:
    """The value a SetVariables text stands for, or ValueError when it is not one."""
    if data_type == "integer":
        return int(text)
    if data_type == "decimal":
        value = float(text)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(text)
        return value
    if data_type == "boolean":
        if text.lower() not in ("true", "false"):
            raise ValueError(text)
        return text.lower() == "true"
    return text


def _key_of(component: dict[str, Any], variable: dict[str, Any]) -> Key:
    return (
        component["name"],
        component.get("instance"),
        variable["name"],
        variable.get("instance"),
    )


def reference(spec: VariableSpec) -> dict[str, Any]:
    """The variable as a Get/SetVariables item names it: its component and variable."""
    return {"component": _component_json(spec), "variable": _variable_json(spec)}


def _component_json(spec: VariableSpec) -> dict[str, Any]:
    component: dict[str, Any] = {"name": spec.component}
    if spec.component_instance is not None:
        component["instance"] = spec.component_instance
    return component


def _variable_json(spec: VariableSpec) -> dict[str, Any]:
    variable: dict[str, Any] = {"name": spec.variable}
    if spec.variable_instance is not None:
        variable["instance"] = spec.variable_instance
    return variable


class DeviceModel:
    def __init__(self, variables: Iterable[Variable]) -> None:
        self._variables: dict[Key, Variable] = {}
        for variable in variables:
            if variable.spec.key in self._variables:
                raise ValueError(f"variable {variable.spec.key} defined twice")
            writable = variable.spec.mutability != "ReadOnly"
            if writable != (variable.binding.write is not None):
                raise ValueError(f"variable {variable.spec.key}: writable iff it has a writer")
            self._variables[variable.spec.key] = variable
        self._components = {(key[0], key[1]) for key in self._variables}

    @property
    def variables(self) -> list[Variable]:
        return list(self._variables.values())

    def _find(self, item: dict[str, Any]) -> tuple[Variable | None, str]:
        key = _key_of(item["component"], item["variable"])
        if (key[0], key[1]) not in self._components:
            return None, "UnknownComponent"
        variable = self._variables.get(key)
        return variable, "UnknownVariable" if variable is None else "Accepted"

    def get(self, item: dict[str, Any]) -> dict[str, Any]:
        """One GetVariableResult for one GetVariableData item."""
        attribute = item.get("attributeType", "Actual")
        result: dict[str, Any] = {
            "component": item["component"],
            "variable": item["variable"],
        }
        if "attributeType" in item:
            result["attributeType"] = attribute
        variable, status = self._find(item)
        if variable is not None and attribute != "Actual":
            status = "NotSupportedAttributeType"
        elif variable is not None and variable.spec.mutability == "WriteOnly":
            status = "Rejected"
        elif variable is not None:
            result["attributeValue"] = variable.binding.read()
        result["attributeStatus"] = status
        return result

    def set(self, item: dict[str, Any]) -> dict[str, Any]:
        """One SetVariableResult for one SetVariableData item (applied when Accepted)."""
        attribute = item.get("attributeType", "Actual")
        result: dict[str, Any] = {"component": item["component"], "variable": item["variable"]}
        if "attributeType" in item:
            result["attributeType"] = attribute
        variable, status = self._find(item)
        if variable is not None and attribute != "Actual":
            status = "NotSupportedAttributeType"
        elif variable is not None and variable.binding.write is None:
            status = "Rejected"
            result["attributeStatusInfo"] = {"reasonCode": "ReadOnly"}
        elif variable is not None and variable.binding.write is not None:
            status = self._write(variable, item["attributeValue"])
            if status == "Rejected":
                result["attributeStatusInfo"] = {"reasonCode": "InvalidValue"}
        result["attributeStatus"] = status
        return result

    @staticmethod
    def _write(variable: Variable, text: str) -> str:
        assert variable.binding.write is not None
        try:
            parse_value(variable.spec.data_type, text)
        except ValueError:
            return "Rejected"
        return variable.binding.write(text)

    def report_data(self, variable: Variable) -> dict[str, Any]:
        spec = variable.spec
        attribute: dict[str, Any] = {
            "type": "Actual",
            "mutability": spec.mutability,
            "persistent": spec.persistent or spec.mutability == "ReadOnly",
            "constant": False,
        }
        if spec.mutability != "WriteOnly":
            attribute["value"] = variable.binding.read()[:2500]
        characteristics: dict[str, Any] = {"dataType": spec.data_type, "supportsMonitoring": False}
        if spec.unit is not None:
            characteristics["unit"] = spec.unit
        return {
            **reference(spec),
            "variableAttribute": [attribute],
            "variableCharacteristics": characteristics,
        }

    def base_report(self, report_base: str) -> list[Variable]:
        if report_base == "FullInventory":
            return self.variables
        if report_base == "ConfigurationInventory":
            return [v for v in self.variables if v.spec.mutability in _CONFIGURATION]
        return [v for v in self.variables if v.spec.variable in SUMMARY_VARIABLES]

    def report(
        self, criteria: Sequence[str], component_variables: Sequence[dict[str, Any]]
    ) -> list[Variable]:
        """The variables a GetReport asks for (B08): those of the components that meet every
        criterion (their variable of that name reads true) and match the list, if any."""
        met = {
            (key[0], key[1])
            for key, variable in self._variables.items()
            if not criteria or self._meets(key[0], key[1], criteria)
        }
        chosen = []
        for variable in self.variables:
            spec = variable.spec
            if (spec.component, spec.component_instance) not in met:
                continue
            if component_variables and not any(
                _matches(spec, wanted) for wanted in component_variables
            ):
                continue
            chosen.append(variable)
        return chosen

    def _meets(self, component: str, instance: str | None, criteria: Sequence[str]) -> bool:
        for criterion in criteria:
            variable = self._variables.get((component, instance, criterion, None))
            if variable is None or variable.binding.read().lower() != "true":
                return False
        return True


def _matches(spec: VariableSpec, wanted: dict[str, Any]) -> bool:
    component = wanted["component"]
    if component["name"] != spec.component:
        return False
    if "instance" in component and component["instance"] != spec.component_instance:
        return False
    variable = wanted.get("variable")
    if variable is None:
        return True
    if variable["name"] != spec.variable:
        return False
    return "instance" not in variable or variable["instance"] == spec.variable_instance
