"""What the LC asks of a charger whose replayed transaction the CSMS refused (pure).

Offline, the charger started a session on the LC's word. When the replayed StartTransaction
(1.6) or TransactionEvent (2.0.1) comes back with an id status other than Accepted, the LC
does what the charger would have done had its answer come from the CSMS directly (1.6 §3.5.4;
2.0.1 C15.FR.03/04/06, E05.FR.02/09/10), following the charger's own rule:
- StopTxOnInvalidId (1.6 StopTransactionOnInvalidId) true: the transaction is stopped
  (1.6 RemoteStopTransaction, 2.0.1 RequestStopTransaction);
- false: only the energy delivery stops, here with a TxProfile at limit 0 for that transaction
  at the charger's highest stack level.
2.0.1 MaxEnergyOnInvalidId is treated as not implemented: the LC cannot meter the energy
delivered against it, and C15.FR.06 then asks for the energy delivery to stop at once.

The rule and the highest stack level are read in one call per version. `Refusal` walks the
steps for one transaction: the asyncio layer sends each `Ask` and feeds back the answer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from ocpp_knowledge.configuration import (
    MAX_STACK_LEVEL,
    STOP_TX_ON_INVALID_ID,
    configuration_query,
    configuration_values,
    stack_level,
)
from ocpp_knowledge.profiles import Purpose, set_charging_profile_request
from router.frames import OcppVersion

# The zero-limit profile's id is this base plus the connector (1.6) or EVSE (2.0.1) id: one per
# EVSE, so suspending a second EVSE does not replace the first one's profile. It lies outside
# the load balancer's default range (profile_id_base 870000 + EVSE id).
SUSPEND_PROFILE_ID_BASE = 880000
# Used when the charger does not report its highest stack level. 0 is the one level every
# charger that takes charging profiles accepts; a TxProfile at a higher level would outrank it.
FALLBACK_STACK_LEVEL = 0

_RULE_AND_STACK = (STOP_TX_ON_INVALID_ID, MAX_STACK_LEVEL)


@dataclass(frozen=True, slots=True)
class InvalidIdRule:
    stop_transaction: bool
    max_stack_level: int | None = None


# Used when the rule cannot be read (no answer, key unknown, a value that is not a boolean).
# Stopping is the conservative reading: the CSMS refused the id and the charger only went
# ahead on the LC's word, so no energy may flow without the charger's leave to keep it.
CONSERVATIVE_RULE = InvalidIdRule(stop_transaction=True)


def rule_query(version: OcppVersion) -> tuple[str, dict[str, Any]]:
    """The call that reads the charger's rule and its highest stack level."""
    return configuration_query(version is OcppVersion.V16, _RULE_AND_STACK)


def parse_rule(version: OcppVersion, answer: dict[str, Any]) -> InvalidIdRule:
    """The rule in `answer` to `rule_query`; an unreadable or absent rule means stop."""
    values = configuration_values(version is OcppVersion.V16, _RULE_AND_STACK, answer)
    rule = values[STOP_TX_ON_INVALID_ID]
    stop = not (rule is not None and rule.strip().lower() == "false")
    return InvalidIdRule(stop, stack_level(values[MAX_STACK_LEVEL]))


def stop_request(version: OcppVersion, transaction_id: int | str) -> tuple[str, dict[str, Any]]:
    """Stop the transaction, the way the CSMS would ask."""
    if version is OcppVersion.V16:
        return "RemoteStopTransaction", {"transactionId": transaction_id}
    return "RequestStopTransaction", {"transactionId": transaction_id}


def suspend_profile_id(evse_id: int) -> int:
    return SUSPEND_PROFILE_ID_BASE + evse_id


def suspend_request(
    version: OcppVersion, transaction_id: int | str, evse_id: int, max_stack_level: int | None
) -> tuple[str, dict[str, Any]]:
    """Stop the energy delivery only: a TxProfile at limit 0 for the transaction on
    `evse_id` (1.6: the connector id) at the charger's highest stack level."""
    payload = set_charging_profile_request(
        version is OcppVersion.V16,
        evse_id=evse_id,
        profile_id=suspend_profile_id(evse_id),
        stack_level=FALLBACK_STACK_LEVEL if max_stack_level is None else max_stack_level,
        purpose=Purpose.TX,
        limit=0.0,
        transaction_id=transaction_id,
    )
    return "SetChargingProfile", payload


class Unanswered(enum.Enum):
    """What came back instead of a CALLRESULT."""

    TIMEOUT = "timeout"  # no answer in time, or the charger went away
    CALL_ERROR = "callerror"


Reply = dict[str, Any] | Unanswered


@dataclass(frozen=True, slots=True)
class Ask:
    """Send this call to the charger; `step` is "rule", "suspend" or "stop"."""

    step: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Finished:
    """`suspended`: only the energy stopped, the session goes on (the balancer must hold it at
    0 A until it ends). `settled`: the charger answered the stop, nothing is left to do; else
    the refusal is acted on again at the charger's next connection."""

    suspended: bool
    settled: bool


def outcome(reply: Reply) -> str:
    """How a suspend or stop call went: accepted, rejected or timeout."""
    if reply is Unanswered.TIMEOUT:
        return "timeout"
    if isinstance(reply, dict) and reply.get("status") == "Accepted":
        return "accepted"
    return "rejected"


class Refusal:
    """The steps for one refused transaction: read the charger's rule; then stop the
    transaction, or suspend its energy and stop it only if the charger rejects that."""

    def __init__(self, version: OcppVersion, transaction_id: int | str, evse_id: int | None):
        self.version = version
        self.transaction_id = transaction_id
        self.evse_id = evse_id
        self._step = "rule"
        self.why_stopped = ""  # when the rule said suspend but the LC stops: why

    def start(self) -> Ask:
        return Ask("rule", *rule_query(self.version))

    def answered(self, reply: Reply) -> Ask | Finished:
        if self._step == "rule":
            if isinstance(reply, dict):
                rule = parse_rule(self.version, reply)
            else:
                rule = CONSERVATIVE_RULE
                self.why_stopped = f"the rule could not be read ({reply.value})"
            if rule.stop_transaction:
                return self._stop()
            if self.evse_id is None:
                self.why_stopped = "the transaction's EVSE is unknown"
                return self._stop()
            self._step = "suspend"
            suspend = suspend_request(
                self.version, self.transaction_id, self.evse_id, rule.max_stack_level
            )
            return Ask("suspend", *suspend)
        if self._step == "suspend":
            if outcome(reply) == "accepted":
                return Finished(suspended=True, settled=False)
            self.why_stopped = f"the suspension was not accepted ({outcome(reply)})"
            return self._stop()
        return Finished(suspended=False, settled=reply is not Unanswered.TIMEOUT)

    def _stop(self) -> Ask:
        self._step = "stop"
        return Ask("stop", *stop_request(self.version, self.transaction_id))
