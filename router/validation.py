"""What a link does with frames that break OCPP-J or their schema (sans-I/O), per direction.

- Frames that are not OCPP-J RPC frames (bad JSON, not an array, unreadable id, unknown message
  type, oversize) cannot be routed: they are never relayed. The sender gets the CALLERROR its
  version names (id "-1" when the id could not be read) when it waits for an answer; otherwise
  the frame is dropped. Either way a `Violation` is reported.
- Schema violations and unknown actions: OBSERVE relays the frame, then checks it (the asyncio
  layer runs the session's `check_pending` once the frame is written, so the check never delays
  it) and reports a `Violation`; STRICT checks first, answers a CALL with the matching CALLERROR
  and replaces an invalid CALLRESULT with a CALLERROR to the side that waits for it. Only
  schema-valid payloads are observed.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from router.frames import Call, FrameError, OcppVersion, call_error_text, error_code
from router.outputs import Direction, Output, Send, Violation
from router.schemas import SchemaRegistry, SchemaViolation


class ValidationMode(Enum):
    OBSERVE = "observe"
    STRICT = "strict"


class Validation:
    def __init__(
        self,
        version: OcppVersion,
        schemas: SchemaRegistry,
        to_csms: ValidationMode,
        to_charger: ValidationMode,
    ) -> None:
        self.schemas = schemas
        self._version = version
        self._strict_to_csms = to_csms is ValidationMode.STRICT
        self._strict_to_charger = to_charger is ValidationMode.STRICT

    def strict(self, direction: Direction) -> bool:
        if direction is Direction.TO_CSMS:
            return self._strict_to_csms
        return self._strict_to_charger

    def check(
        self, action: str, is_request: bool, payload: dict[str, Any]
    ) -> SchemaViolation | None:
        return self.schemas.check(self._version, action, is_request, payload)

    def knows(self, action: str) -> bool:
        return self.schemas.knows(self._version, action)

    def unroutable(self, direction: Direction, error: FrameError) -> list[Output]:
        out: list[Output] = [Violation(direction, error.kind, None, error.detail, True)]
        code = error_code(self._version, error.kind)
        if code is not None and error.expects_answer:
            message_id = error.message_id or "-1"
            out.append(Send(direction.back, call_error_text(message_id, code, error.detail)))
        return out

    def check_call(
        self, call: Call, direction: Direction
    ) -> tuple[SchemaViolation | None, list[Output]]:
        """The call's schema violation, reported, and in STRICT mode answered to its sender."""
        violation = self.check(call.action, True, call.payload)
        if violation is None:
            return None, []
        out: list[Output] = [self.violation(direction, violation, call.action)]
        if self.strict(direction) and not call.unconfirmed:
            out.append(self.error_reply(direction.back, call.message_id, violation))
        return violation, out

    def error_reply(
        self, direction: Direction, message_id: str, violation: SchemaViolation
    ) -> Send:
        code = error_code(self._version, violation.kind) or "GenericError"
        return Send(direction, call_error_text(message_id, code, violation.detail))

    def violation(self, direction: Direction, violation: SchemaViolation, action: str) -> Violation:
        rejected = self.strict(direction)
        return Violation(direction, violation.kind, action, violation.detail, rejected)
