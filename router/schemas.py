"""The official OCPP JSON schemas (vendored in `schemas/`), compiled once at start.

Each schema is compiled into a Python predicate (`router.schema_compiler`), the fast path;
jsonschema explains a payload the predicate rejects.

`SchemaRegistry.check(version, action, is_request, payload)` answers whether a payload
conforms and, when it does not, the error kind the OCPP-J spec names for the violation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any

from jsonschema import exceptions as schema_exceptions
from jsonschema import validators

from router.frames import ErrorKind, OcppVersion
from router.schema_compiler import compile_schema, is_decimal_multiple

SCHEMA_ROOT = Path(__file__).resolve().parent.parent / "schemas"

# Schema folders per version; later folders add actions (the 1.6 security whitepaper).
_FOLDERS = {
    OcppVersion.V16: ("v1.6", "v1.6-security"),
    OcppVersion.V201: ("v2.0.1",),
    OcppVersion.V21: ("v2.1",),
}

_KIND_BY_KEYWORD = {
    "required": ErrorKind.OCCURRENCE,
    "minItems": ErrorKind.OCCURRENCE,
    "maxItems": ErrorKind.OCCURRENCE,
    "type": ErrorKind.TYPE,
    "additionalProperties": ErrorKind.FORMAT,
}

# A rejected payload is explained from its first errors only: jsonschema finds every error
# otherwise, and a 60 KB MeterValues with thousands of bad samples then costs ~50 ms of the
# event loop per frame, inside any frame budget.
EXPLAINED_ERRORS = 16

# The drafts the schema compiler follows, as {jsonschema validator: is draft 4}.
_COMPILED_DRAFTS = {validators.Draft4Validator: True, validators.Draft6Validator: False}


@dataclass(frozen=True, slots=True)
class SchemaViolation:
    kind: ErrorKind
    detail: str


def _multiple_of(
    validator: Any, multiple: float, instance: Any, schema: dict[str, Any]
) -> Iterator[schema_exceptions.ValidationError]:
    """`multipleOf` in decimal, the same test as the compiled schemas make."""
    if not validator.is_type(instance, "number"):
        return
    if not is_decimal_multiple(instance, multiple):
        yield schema_exceptions.ValidationError(f"{instance!r} is not a multiple of {multiple}")


def _inline_refs(node: Any, definitions: dict[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """The schema with every local `#/definitions/...` reference replaced by its target.

    jsonschema resolves a `$ref` on every validation; OCPP's schemas are `$ref`-heavy, and
    inlining them roughly halves the cost of checking a payload. A recursive definition (none
    in the OCPP schemas today) is left as a reference.
    """
    if isinstance(node, list):
        return [_inline_refs(item, definitions, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        name = ref.removeprefix("#/definitions/")
        if name in definitions and name not in seen:
            return _inline_refs(definitions[name], definitions, seen | {name})
    return {key: _inline_refs(value, definitions, seen) for key, value in node.items()}


class _Validator:
    """One schema: its compiled predicate is the fast path, jsonschema explains a failure.

    A schema the compiler does not support is checked with jsonschema's `is_valid` instead.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        base = validators.validator_for(schema, default=validators.Draft6Validator)
        cls = validators.extend(base, {"multipleOf": _multiple_of})
        inlined = _inline_refs(schema, schema.get("definitions", {}))
        self.reference = cls(inlined)  # jsonschema: the reference semantics and the explainer
        draft4 = _COMPILED_DRAFTS.get(base)
        self.compiled = None if draft4 is None else compile_schema(inlined, draft4)
        self._is_valid = self.reference.is_valid if self.compiled is None else self.compiled.valid

    def check(self, payload: Any) -> SchemaViolation | None:
        if self._is_valid(payload):
            return None
        errors = islice(self.reference.iter_errors(payload), EXPLAINED_ERRORS)
        try:
            error = schema_exceptions.best_match(errors)
        except RecursionError:
            # jsonschema quotes the offending value, and quoting a list nested some 800 deep
            # (which json.loads still reads) exceeds the recursion limit.
            return SchemaViolation(ErrorKind.FORMAT, "payload nested too deeply to explain")
        if error is None:  # the fast path and jsonschema disagree: a broken schema or compiler
            return SchemaViolation(ErrorKind.GENERIC, "payload rejected by schema")
        kind = _KIND_BY_KEYWORD.get(str(error.validator), ErrorKind.PROPERTY)
        where = "/".join(str(part) for part in error.absolute_path) or "payload"
        return SchemaViolation(kind, f"{where}: {error.message}"[:255])


def _message_name(file: Path, version: OcppVersion) -> tuple[str, bool]:
    """(action, is_request) for a schema file name."""
    stem = file.stem
    if stem.endswith("Response"):
        return stem.removesuffix("Response"), False
    if version is OcppVersion.V16:
        return stem, True  # 1.6 names requests by the bare action
    if stem.endswith("Request"):
        return stem.removesuffix("Request"), True
    return stem, True  # 2.1 SEND messages (e.g. NotifyPeriodicEventStream) have no suffix


class SchemaRegistry:
    """All schemas of all versions, loaded once at start."""

    def __init__(self, root: Path = SCHEMA_ROOT) -> None:
        self._validators: dict[tuple[OcppVersion, str, bool], _Validator] = {}
        for version, folders in _FOLDERS.items():
            for folder in folders:
                for file in sorted((root / folder).glob("*.json")):
                    name = _message_name(file, version)
                    schema = json.loads(file.read_text(encoding="utf-8"))
                    self._validators[(version, *name)] = _Validator(schema)
        if not self._validators:
            raise FileNotFoundError(f"no OCPP schemas found under {root}")

    def knows(self, version: OcppVersion, action: str) -> bool:
        return (version, action, True) in self._validators

    def check(
        self, version: OcppVersion, action: str, is_request: bool, payload: Any
    ) -> SchemaViolation | None:
        validator = self._validators.get((version, action, is_request))
        if validator is None:
            return SchemaViolation(ErrorKind.NOT_IMPLEMENTED, f"unknown action {action!r}")
        return validator.check(payload)


@cache
def default_registry() -> SchemaRegistry:
    return SchemaRegistry()
