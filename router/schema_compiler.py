"""OCPP JSON schemas compiled into plain Python predicates.

Checking payloads with jsonschema's `is_valid` is the router's main CPU cost: every keyword of
every subschema is a generator call and every type test a type-checker lookup. The OCPP schemas
use only a handful of keywords, so `compile_schema` turns a schema, once at start, into the source
of a single function of `isinstance`, `len`, `in` and comparison tests, an order of magnitude
faster. That function is the fast path; jsonschema stays the reference. A schema with a keyword
outside the supported set is not compiled (it is checked by jsonschema alone), so the predicate
never accepts what jsonschema rejects, and a payload it rejects is explained by jsonschema.

The compiled tests follow jsonschema 4 for drafts 4 and 6: a keyword applies only to instances
of its kind (`maxLength` to strings, `required` to objects, ...), whatever `type` says; `bool` is
neither an integer nor a number; a float with an integral value is an integer in draft 6 but not
in draft 4; `format` is not checked (the validators are built without a format checker). The
tests run in another order than jsonschema's, which does not matter: none of them raises on the
values `json.loads` returns, so only the verdict is observable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from itertools import count
from numbers import Number
from typing import Any

# Keywords that never reject a payload here: annotations, `definitions` (their `$ref`s are
# already inlined), `format` (not checked), and `additionalItems`, which jsonschema ignores
# unless `items` is a list (a list is not supported, so it is never one here).
_IGNORED = frozenset(
    {"$id", "$schema", "additionalItems", "comment", "default", "definitions", "description"}
    | {"format", "id", "javaType", "title"}
)

# The kind of instance each checking keyword applies to; any other instance passes it.
_KEYWORD_KIND = {
    "maxLength": "string",
    "minLength": "string",
    "minimum": "number",
    "maximum": "number",
    "multipleOf": "number",
    "minItems": "array",
    "maxItems": "array",
    "items": "array",
    "required": "object",
    "additionalProperties": "object",
    "properties": "object",
}
_SUPPORTED = _IGNORED | _KEYWORD_KIND.keys() | {"type", "enum"}

# An instance of a `type` is an instance of this keyword kind (integers are numbers).
_KIND_OF_TYPE = {
    "string": "string",
    "integer": "number",
    "number": "number",
    "array": "array",
    "object": "object",
}

_INTEGER = "(isinstance({0}, int) and not isinstance({0}, bool))"
_TYPE_TESTS = {
    "string": "isinstance({0}, str)",
    "number": "(isinstance({0}, _Number) and not isinstance({0}, bool))",
    "array": "isinstance({0}, list)",
    "object": "isinstance({0}, dict)",
    "boolean": "isinstance({0}, bool)",
    "null": "{0} is None",
}
_INTEGER_TEST = {
    True: _INTEGER,  # draft 4
    False: f"({_INTEGER} or (isinstance({{0}}, float) and {{0}}.is_integer()))",  # draft 6
}


def is_decimal_multiple(number: float, multiple: float) -> bool:
    """`multipleOf` in decimal, as JSON numbers are written: OCPP 1.6's limits are multiples of
    0.1, and in binary floating point 6.3 / 0.1 is not a whole number.

    A number Decimal cannot divide (infinite, or more digits than its precision) is not a
    multiple rather than an error: `json.loads` turns `1e999` into infinity.
    """
    try:
        return Decimal(repr(number)) % Decimal(repr(multiple)) == 0
    except ArithmeticError:
        return False


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    """A schema's predicate: `valid(payload)` is jsonschema's `is_valid(payload)`, faster."""

    valid: Callable[[Any], bool]
    source: str  # the generated code of `valid`, for debugging


class _Unsupported(Exception):
    """The schema uses something the compiler does not translate."""


def compile_schema(schema: dict[str, Any], draft4: bool) -> CompiledSchema | None:
    """A predicate equivalent to jsonschema's `is_valid` for `schema` (draft 4 or 6, `$ref`s
    inlined), or None when the schema uses a keyword or form outside the supported set."""
    compiler = _Compiler(draft4)
    try:
        body = compiler.node(schema, "instance")
    except _Unsupported:
        return None
    source = "\n".join(["def valid(instance):", *_indent([*body, "return True"])]) + "\n"
    namespace: dict[str, Any] = {"_Number": Number, "_is_decimal_multiple": is_decimal_multiple}
    namespace.update(compiler.constants)
    exec(compile(source, "<compiled schema>", "exec"), namespace)
    return CompiledSchema(namespace["valid"], source)


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _fail_if(condition: str) -> str:
    return f"if {condition}: return False"


class _Compiler:
    """Generates the lines of code that return False when a variable fails a (sub)schema."""

    def __init__(self, draft4: bool) -> None:
        self._type_tests = {**_TYPE_TESTS, "integer": _INTEGER_TEST[draft4]}
        self._names = count(1)
        self.constants: dict[str, Any] = {}

    def node(self, schema: Any, var: str) -> list[str]:
        if not isinstance(schema, dict) or not schema.keys() <= _SUPPORTED:
            raise _Unsupported(schema)
        lines: list[str] = []
        # the kinds of instance that can pass `type` (None: one no keyword applies to)
        kinds: set[str | None] = set(_KEYWORD_KIND.values())
        if "type" in schema:
            names = self._type_names(schema["type"])
            lines.append(_fail_if(f"not {self._type_test(names, var)}"))
            kinds = {_KIND_OF_TYPE.get(name) for name in names}
        if "enum" in schema:
            lines += self._enum(schema["enum"], var, kinds == {"string"})
        for kind, emit in (
            ("string", self._string),
            ("number", self._number),
            ("array", self._array),
            ("object", self._object),
        ):
            checks = emit(schema, var)  # also for an unreachable kind: it may be unsupported
            if not checks or kind not in kinds:
                continue
            if kinds != {kind}:
                checks = [f"if {self._type_tests[kind].format(var)}:", *_indent(checks)]
            lines += checks
        return lines

    def _type_names(self, types: Any) -> list[str]:
        names = [types] if isinstance(types, str) else types
        if not isinstance(names, list) or not names:
            raise _Unsupported(types)
        if not all(isinstance(name, str) and name in self._type_tests for name in names):
            raise _Unsupported(types)
        return names

    def _type_test(self, names: list[str], var: str) -> str:
        tests = [self._type_tests[name].format(var) for name in names]
        return tests[0] if len(tests) == 1 else "(" + " or ".join(tests) + ")"

    def _enum(self, values: Any, var: str, is_string: bool) -> list[str]:
        # jsonschema compares with `equal`, under which a string equals only an equal string
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            raise _Unsupported(values)
        allowed = self._constant("enum", frozenset(values))
        if is_string:
            return [_fail_if(f"{var} not in {allowed}")]
        return [_fail_if(f"not (isinstance({var}, str) and {var} in {allowed})")]

    def _string(self, schema: dict[str, Any], var: str) -> list[str]:
        lines = []
        if "minLength" in schema:
            lines.append(_fail_if(f"len({var}) < {_count(schema['minLength'])}"))
        if "maxLength" in schema:
            lines.append(_fail_if(f"len({var}) > {_count(schema['maxLength'])}"))
        return lines

    def _number(self, schema: dict[str, Any], var: str) -> list[str]:
        lines = []
        if "minimum" in schema:
            lines.append(_fail_if(f"{var} < {_number(schema['minimum'])}"))
        if "maximum" in schema:
            lines.append(_fail_if(f"{var} > {_number(schema['maximum'])}"))
        if "multipleOf" in schema:
            multiple = _number(schema["multipleOf"])
            lines.append(_fail_if(f"not _is_decimal_multiple({var}, {multiple})"))
        return lines

    def _array(self, schema: dict[str, Any], var: str) -> list[str]:
        lines = []
        if "minItems" in schema:
            lines.append(_fail_if(f"len({var}) < {_count(schema['minItems'])}"))
        if "maxItems" in schema:
            lines.append(_fail_if(f"len({var}) > {_count(schema['maxItems'])}"))
        if "items" in schema:
            item = self._name()
            body = self.node(schema["items"], item)
            if body:
                lines += [f"for {item} in {var}:", *_indent(body)]
        return lines

    def _object(self, schema: dict[str, Any], var: str) -> list[str]:
        lines = []
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(isinstance(key, str) for key in required):
            raise _Unsupported(required)
        if required:
            lines.append(_fail_if(" or ".join(f"{key!r} not in {var}" for key in required)))
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            raise _Unsupported(properties)
        additional = schema.get("additionalProperties", True)
        if not isinstance(additional, bool):
            raise _Unsupported(additional)
        if not additional:
            allowed = self._constant("keys", frozenset(properties))
            lines.append(_fail_if(f"not {var}.keys() <= {allowed}"))
        for key, subschema in properties.items():
            value = self._name()
            body = self.node(subschema, value)
            if not body:
                continue
            body = [f"{value} = {var}[{key!r}]", *body]
            # a required key is present here: the `required` test above has passed
            lines += body if key in required else [f"if {key!r} in {var}:", *_indent(body)]
        return lines

    def _name(self) -> str:
        return f"v{next(self._names)}"

    def _constant(self, kind: str, value: Any) -> str:
        name = f"_{kind}{next(self._names)}"
        self.constants[name] = value
        return name


def _count(value: Any) -> str:
    if type(value) is not int or value < 0:
        raise _Unsupported(value)
    return repr(value)


def _number(value: Any) -> str:
    if type(value) is not int and not (type(value) is float and math.isfinite(value)):
        raise _Unsupported(value)
    return repr(value)
