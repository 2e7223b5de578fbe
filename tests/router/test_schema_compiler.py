"""The compiled schema predicates agree with jsonschema, the reference they stand in for."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.frames import ErrorKind, OcppVersion
from router.schema_compiler import compile_schema, is_decimal_multiple
from router.schemas import SCHEMA_ROOT, _Validator, default_registry

SCHEMA_FILES = sorted(Path(str(SCHEMA_ROOT)).glob("*/*.json"))  # files in the checkout
DRAFT4 = "http://json-schema.org/draft-04/schema#"
DRAFT6 = "http://json-schema.org/draft-06/schema#"


@cache
def _validator(file: Path) -> _Validator:
    return _Validator(json.loads(file.read_text(encoding="utf-8")))


def _agree(validator: _Validator, payload: Any) -> bool:
    """The compiled verdict, asserted equal to jsonschema's."""
    assert validator.compiled is not None
    verdict = validator.compiled.valid(payload)
    assert verdict == validator.reference.is_valid(payload), validator.compiled.source
    return verdict


def _sorts(validator: _Validator, accepted: Sequence[Any], rejected: Sequence[Any]) -> None:
    """The compiled predicate accepts `accepted` and rejects `rejected`, as jsonschema does."""
    assert [value for value in accepted if not _agree(validator, value)] == []
    assert [value for value in rejected if _agree(validator, value)] == []


def _synthetic(schema: dict[str, Any], draft: str = DRAFT6) -> _Validator:
    return _Validator({"$schema": draft, **schema})


# -- every vendored schema ----------------------------------------------------------------------


def test_every_vendored_schema_compiles() -> None:
    assert len(SCHEMA_FILES) > 300
    not_compiled = [file.name for file in SCHEMA_FILES if _validator(file).compiled is None]
    assert not_compiled == []


def test_the_registry_checks_with_the_compiled_predicates() -> None:
    registry = default_registry()
    assert all(validator.compiled is not None for validator in registry._validators.values())


# -- semantics on small schemas ------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    [
        {"pattern": "^a"},
        {"type": "object", "patternProperties": {"^x": {}}},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "object", "minProperties": 1},
        {"type": "array", "items": [{"type": "string"}]},
        {"type": "array", "items": True},
        {"type": "array", "uniqueItems": True},
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "number", "minimum": float("inf")},
        {"type": "string", "maxLength": 2.5},
        {"enum": ["a", 1]},
        {"type": "any"},
        {"type": []},
        {"anyOf": [{"type": "string"}]},
        {"$ref": "#/definitions/x"},
        {"type": "object", "properties": {"a": {"const": 1}}},  # deep inside
        {"type": "object", "properties": {"a": True}},
    ],
)
def test_a_schema_outside_the_supported_set_is_not_compiled(schema: dict[str, Any]) -> None:
    assert compile_schema(schema, draft4=False) is None
    assert compile_schema(schema, draft4=True) is None


def test_a_keyword_unreachable_under_its_type_must_still_be_supported() -> None:
    assert compile_schema({"type": "string", "minProperties": 1}, draft4=False) is None


def test_an_integral_float_is_an_integer_in_draft6_only() -> None:
    rejected = [1.5, True, False, "1", None]
    _sorts(_synthetic({"type": "integer"}, DRAFT4), [1, -7, 2**70], [1.0, *rejected])
    _sorts(_synthetic({"type": "integer"}, DRAFT6), [1, -7, 2**70, 1.0, -0.0], rejected)


def test_a_bool_is_not_a_number_and_numbers_are_not_bools() -> None:
    number = _synthetic({"type": "number", "minimum": 0, "maximum": 3.0})
    _sorts(number, [0, 3.0, 1.5, 2], [True, False, -0.1, 3.01, "1"])
    _sorts(_synthetic({"type": "boolean"}), [True, False], [0, 1, 1.0, None, "true"])


def test_keywords_apply_only_to_their_kind_of_instance_whatever_the_type() -> None:
    untyped = _synthetic(
        {
            "maxLength": 2,
            "minimum": 0,
            "maxItems": 1,
            "required": ["a"],
            "additionalProperties": False,
            "properties": {"a": {"type": "string"}},
        }
    )
    accepted = ["ab", 0, 7.5, [1], {"a": "x"}, None, True, 0.0]
    _sorts(untyped, accepted, ["abc", -1, -0.5, [1, 2], {}, {"a": 1}, {"a": "x", "b": 1}])
    string = _synthetic({"type": "string", "additionalProperties": False, "required": ["a"]})
    _sorts(string, ["x"], [{"a": 1}])


def test_a_list_of_types_with_null() -> None:
    validator = _synthetic({"type": ["string", "null"], "maxLength": 1, "minLength": 1})
    _sorts(validator, ["a", None], ["", "ab", 0, [], False])


def test_string_lengths_count_code_points() -> None:
    validator = _synthetic({"type": "string", "maxLength": 3})
    _sorts(validator, ["😀é\u0301"], ["😀😀😀😀"])  # 3 code points in 9 bytes of UTF-8; 4 in 16


def test_an_enum_accepts_only_equal_strings_and_never_raises() -> None:
    validator = _synthetic({"enum": ["A", "1", "true"]})
    _sorts(validator, ["A", "1"], ["a", 1, True, 1.0, None, ["A"], {"A": 1}, [], {}])


def test_multiple_of_is_decimal_and_never_raises() -> None:
    validator = _synthetic({"type": "number", "multipleOf": 0.1}, DRAFT4)
    infinite = [float("inf"), float("-inf"), float("nan")]
    _sorts(validator, [6.3, 0.3, 7, 0, -2.5, 1e20], [6.3 + 1e-15, 0.1 * 3, 0.05, 1e300, *infinite])
    assert is_decimal_multiple(63, 0.1)
    assert not is_decimal_multiple(6.300000000000001, 0.1)


def test_an_infinite_limit_is_a_violation_not_an_error() -> None:
    """`json.loads` reads 1e999 as infinity; jsonschema's decimal remainder of it raised."""
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": json.loads("1e999")}],
        },
    }
    payload = {"connectorId": 1, "csChargingProfiles": profile}
    violation = default_registry().check(OcppVersion.V16, "SetChargingProfile", True, payload)
    assert violation is not None and violation.kind is ErrorKind.PROPERTY
    assert "multiple of 0.1" in violation.detail


def test_property_names_are_data_not_keywords_or_code() -> None:
    odd = 'it\'s "odd"\n\\'
    validator = _synthetic(
        {
            "type": "object",
            "properties": {"type": {"type": "integer"}, odd: {"type": "string"}},
            "required": ["type", odd],
            "additionalProperties": False,
        }
    )
    rejected = [{"type": "object", odd: "x"}, {"type": 1}, {"type": 1, odd: "x", "it's": "x"}]
    _sorts(validator, [{"type": 1, odd: "x"}], rejected)


def test_annotations_and_formats_are_not_checked() -> None:
    validator = _synthetic(
        {
            "$id": "urn:x",
            "comment": "c",
            "definitions": {"x": {"pattern": "unsupported, but never applied"}},
            "type": "object",
            "properties": {
                "at": {"type": "string", "format": "date-time", "description": "d"},
                "to": {"type": "string", "format": "uri", "javaType": "J", "default": "x"},
                "list": {"type": "array", "items": {"type": "integer"}, "additionalItems": False},
            },
        }
    )
    _sorts(
        validator, [{"at": "not a date", "to": "not a uri", "list": [1, 2, 3]}], [{"list": ["2"]}]
    )


def test_the_source_is_kept_for_debugging() -> None:
    compiled = compile_schema({"type": "object", "required": ["a"]}, draft4=False)
    assert compiled is not None
    assert compiled.source.startswith("def valid(instance):")
    assert "'a' not in instance" in compiled.source


# -- differential: generated payloads on every vendored schema ------------------------------------

_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from([1.0, -0.0, 2.5, 1e300, 10**30, float("inf"), float("nan")]),
    st.text(max_size=3),
    st.lists(st.integers(0, 1), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(0, 1), max_size=2),
)
_LIST_CAP = 4  # generated arrays hold at most this many items


def _valid(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values that follow `schema`, often at the edge of its limits."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        limit = schema.get("maxLength", 40)
        edges = ["x" * limit, "é" * limit, "😀" * limit]  # code points, not bytes
        return st.text(max_size=min(limit, 10)) | st.sampled_from(edges)
    if kind in ("integer", "number"):
        return _valid_numbers(schema)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        low = schema.get("minItems", 0)
        high = max(low, min(schema.get("maxItems", _LIST_CAP), _LIST_CAP))
        return st.lists(_valid(schema.get("items", {})), min_size=low, max_size=high)
    if kind == "object":
        properties: dict[str, Any] = schema.get("properties", {})
        required = schema.get("required", [])
        return st.fixed_dictionaries(
            {key: _valid(properties.get(key, {})) for key in required},
            optional={key: _valid(sub) for key, sub in properties.items() if key not in required},
        )
    return _JUNK  # no constraint the generator follows


def _valid_numbers(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    low, high = schema.get("minimum", -(2**40)), schema.get("maximum", 2**40)
    edges = [bound for bound in (schema.get("minimum"), schema.get("maximum")) if bound is not None]
    integers = st.integers(math.ceil(low), math.floor(high))
    if schema["type"] == "integer":
        return integers | st.sampled_from([int(edge) for edge in edges] or [0])
    if "multipleOf" in schema:  # OCPP 1.6: 0.1; 6.3 is one in decimal, 63 * 0.1 is not
        tenths = st.integers(math.ceil(low * 10), math.floor(high * 10))
        return tenths.map(lambda tenth: tenth / 10) | integers
    return integers | st.floats(low, high) | st.sampled_from(edges or [0.0])


def _mutants(value: Any) -> st.SearchStrategy[Any]:
    """Values that `value`'s schema probably rejects, close to `value`."""
    near: list[Any] = []
    if isinstance(value, str):
        near = [value + "x", value + "😀", value.upper(), value.lower() + "!"]
    elif isinstance(value, bool):
        near = [int(value), str(value).lower()]
    elif isinstance(value, int):
        near = [float(value), True, False, value - 1, value + 1, -value, str(value), value * 0.1]
    elif isinstance(value, float):
        near = [value + 0.1, value - 0.1, value * 0.1, value + 1e-9, -value, repr(value)]
        near += [int(value)] if math.isfinite(value) else []
    elif isinstance(value, list):
        near = [[], value + value[-1:], value[:-1], [*value, None], {}]
    elif isinstance(value, dict):
        near = [{**value, "extra": 1}, {**value, "type": "object"}, [value], {}]
        near += [{k: v for k, v in value.items() if k != key} for key in value]
    return (st.sampled_from(near) | _JUNK) if near else _JUNK


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every value nested in `value`."""
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = list(enumerate(value))
    else:
        return []
    return [slot for key, item in pairs for slot in [(value, key), *_slots(item)]]


@st.composite
def _payloads(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A `valid` payload, or one with a single mutation somewhere (about half of them)."""
    payload = draw(valid)
    if draw(st.booleans()):
        slots = _slots(payload)
        where = draw(st.integers(-1, len(slots) - 1))
        if where < 0:
            return draw(_mutants(payload))
        container, key = slots[where]
        container[key] = draw(_mutants(container[key]))
    return payload


@pytest.mark.parametrize("file", SCHEMA_FILES, ids=lambda file: f"{file.parent.name}/{file.stem}")
def test_compiled_verdicts_equal_jsonschema_verdicts(file: Path) -> None:
    validator = _validator(file)

    @settings(
        max_examples=15,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(payload=_payloads(_valid(validator.reference.schema)))
    def agree(payload: Any) -> None:
        _agree(validator, payload)

    agree()
