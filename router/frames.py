"""OCPP-J RPC frames: parse text into frames and build the frames the LC writes itself.

Sans-I/O: text in, values out. `parse_frame` never raises on bad input; it returns a
`FrameError` that says what was wrong and, when it could be read, the message id, so the
caller can answer with the CALLERROR the spec names for the link's protocol version.
Forwarded frames are never rebuilt from these values: the router relays the original text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

CALL = 2
CALLRESULT = 3
CALLERROR = 4
CALLRESULTERROR = 5  # OCPP 2.1 only
SEND = 6  # OCPP 2.1 only

MAX_MESSAGE_ID_LENGTH = 36


class OcppVersion(Enum):
    V16 = "ocpp1.6"
    V201 = "ocpp2.0.1"
    V21 = "ocpp2.1"

    @classmethod
    def from_subprotocol(cls, subprotocol: str | None) -> OcppVersion | None:
        try:
            return cls(subprotocol)
        except ValueError:
            return None

    @property
    def message_types(self) -> frozenset[int]:
        return _MESSAGE_TYPES_21 if self is OcppVersion.V21 else _MESSAGE_TYPES


_MESSAGE_TYPES = frozenset({CALL, CALLRESULT, CALLERROR})
_MESSAGE_TYPES_21 = _MESSAGE_TYPES | {CALLRESULTERROR, SEND}


class ErrorKind(Enum):
    """What was wrong with a frame, independent of how a protocol version spells it."""

    RPC_FRAMEWORK = "rpc_framework"  # not an RPC frame at all: bad JSON, not an array, bad id
    FORMAT = "format"  # payload syntactically incorrect / not the PDU structure
    MESSAGE_TYPE = "message_type"  # unknown message type number
    NOT_IMPLEMENTED = "not_implemented"  # unknown action
    OCCURRENCE = "occurrence"  # required field missing, array length
    TYPE = "type"  # wrong JSON type
    PROPERTY = "property"  # wrong value: enum, length, range
    OVERSIZE = "oversize"  # frame above the configured size limit
    GENERIC = "generic"


# OCPP-J 1.6 has no RpcFrameworkError or MessageTypeNotSupported and spells the format
# violation `FormationViolation` (its errata later renamed it; chargers in the field use both,
# the original spelling is what 1.6 peers are tested against).
_ERROR_CODES_16 = {
    ErrorKind.RPC_FRAMEWORK: "FormationViolation",
    ErrorKind.FORMAT: "FormationViolation",
    ErrorKind.MESSAGE_TYPE: None,  # 1.6 has no code for it: the frame is dropped
    ErrorKind.NOT_IMPLEMENTED: "NotImplemented",
    ErrorKind.OCCURRENCE: "OccurrenceConstraintViolation",
    ErrorKind.TYPE: "TypeConstraintViolation",
    ErrorKind.PROPERTY: "PropertyConstraintViolation",
    ErrorKind.OVERSIZE: "FormationViolation",
    ErrorKind.GENERIC: "GenericError",
}
_ERROR_CODES_2X = {
    ErrorKind.RPC_FRAMEWORK: "RpcFrameworkError",
    ErrorKind.FORMAT: "FormatViolation",
    ErrorKind.MESSAGE_TYPE: "MessageTypeNotSupported",
    ErrorKind.NOT_IMPLEMENTED: "NotImplemented",
    ErrorKind.OCCURRENCE: "OccurrenceConstraintViolation",
    ErrorKind.TYPE: "TypeConstraintViolation",
    ErrorKind.PROPERTY: "PropertyConstraintViolation",
    ErrorKind.OVERSIZE: "FormatViolation",
    ErrorKind.GENERIC: "GenericError",
}


def error_code(version: OcppVersion, kind: ErrorKind) -> str | None:
    """The CALLERROR code `version` uses for `kind`, or None when it has no such code."""
    table = _ERROR_CODES_16 if version is OcppVersion.V16 else _ERROR_CODES_2X
    return table[kind]


@dataclass(frozen=True, slots=True)
class Call:
    message_id: str
    action: str
    payload: Any
    # OCPP 2.1 SEND: same shape as a CALL but never answered.
    unconfirmed: bool = False


@dataclass(frozen=True, slots=True)
class CallResult:
    message_id: str
    payload: Any


@dataclass(frozen=True, slots=True)
class CallError:
    message_id: str
    code: str
    description: str
    details: Any
    # OCPP 2.1 CALLRESULTERROR: an error about a CALLRESULT, never answered.
    about_result: bool = False


@dataclass(frozen=True, slots=True)
class FrameError:
    kind: ErrorKind
    detail: str
    message_id: str | None = None
    # The sender may wait for an answer: a CALL, or a frame whose id could not be read (the
    # spec then answers with id "-1").
    expects_answer: bool = False


Frame = Call | CallResult | CallError
ParsedFrame = Frame | FrameError

# Recovers a message id from text that is not valid JSON, so the sender can still match the
# CALLERROR it gets; "-1" is the spec's id when even that fails.
_LEADING_CALL = re.compile(r'\s*\[\s*(\d+)\s*,\s*"([^"\\]{1,36})"')
UNREADABLE_MESSAGE_ID = "-1"


def _salvage(text: str) -> tuple[str | None, bool]:
    match = _LEADING_CALL.match(text[:64])
    if match is None:
        return None, True
    return match.group(2), match.group(1) == str(CALL)


def _utf8_size_above(text: str, limit: int) -> bool:
    # A character is 1 to 4 bytes in UTF-8: encode only when the length cannot decide.
    if len(text) > limit:
        return True
    if len(text) * 4 <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


def parse_frame(text: str, version: OcppVersion, max_size: int | None = None) -> ParsedFrame:
    """Parse one OCPP-J text frame for a link speaking `version`."""
    if max_size is not None and _utf8_size_above(text, max_size):
        message_id, is_call = _salvage(text)
        detail = f"frame of {len(text)} characters is above {max_size} bytes"
        return FrameError(ErrorKind.OVERSIZE, detail, message_id, is_call)
    try:
        message = _decode(text)
    except (ValueError, RecursionError) as exc:
        message_id, is_call = _salvage(text)
        return FrameError(ErrorKind.RPC_FRAMEWORK, f"invalid JSON: {exc}", message_id, is_call)
    if not isinstance(message, list) or len(message) < 2:
        return FrameError(ErrorKind.RPC_FRAMEWORK, "not a JSON array [type, id, ...]", None, True)
    type_id, message_id = message[0], message[1]
    if not isinstance(message_id, str) or not message_id:
        return FrameError(
            ErrorKind.RPC_FRAMEWORK, "message id is not a non-empty string", None, True
        )
    if len(message) < 3:
        return FrameError(
            ErrorKind.RPC_FRAMEWORK, "an array of fewer than 3 elements", message_id, True
        )
    if len(message_id) > MAX_MESSAGE_ID_LENGTH:
        return FrameError(
            ErrorKind.RPC_FRAMEWORK, "message id longer than 36 characters", message_id, True
        )
    if type(type_id) is not int or type_id not in version.message_types:
        return FrameError(
            ErrorKind.MESSAGE_TYPE, f"unsupported message type {type_id!r}", message_id, True
        )
    return _parse_known_type(type_id, message_id, message)


def _decode(text: str) -> Any:
    """orjson first: ~3x faster than json.loads, on every frame. json.loads for what orjson
    refuses and Python's JSON reads (NaN, Infinity, 1e999, unpaired surrogates), so the same
    frames are JSON as before; orjson reads an integer beyond 64 bits as a float."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _parse_known_type(type_id: int, message_id: str, message: list[Any]) -> ParsedFrame:
    if type_id in (CALL, SEND):
        is_call = type_id == CALL
        if len(message) != 4 or not isinstance(message[2], str):
            return FrameError(
                ErrorKind.FORMAT, "a CALL is [2, id, action, payload]", message_id, is_call
            )
        if not isinstance(message[3], dict):
            return FrameError(ErrorKind.FORMAT, "payload is not an object", message_id, is_call)
        return Call(message_id, message[2], message[3], unconfirmed=not is_call)
    if type_id == CALLRESULT:
        if len(message) != 3 or not isinstance(message[2], dict):
            return FrameError(ErrorKind.FORMAT, "a CALLRESULT is [3, id, payload]", message_id)
        return CallResult(message_id, message[2])
    code_ok = len(message) == 5 and isinstance(message[2], str) and isinstance(message[3], str)
    if not code_ok:
        return FrameError(
            ErrorKind.FORMAT, "a CALLERROR is [4, id, code, description, details]", message_id
        )
    return CallError(
        message_id, message[2], message[3], message[4], about_result=type_id == CALLRESULTERROR
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def call_text(message_id: str, action: str, payload: Any) -> str:
    return _dumps([CALL, message_id, action, payload])


def call_result_text(message_id: str, payload: Any) -> str:
    return _dumps([CALLRESULT, message_id, payload])


def call_error_text(message_id: str, code: str, description: str, details: Any = None) -> str:
    # ErrorDescription is string[255]; details must be an object, {} when there are none.
    return _dumps([CALLERROR, message_id, code, description[:255], details or {}])
