"""The CSMS's block-M calls on the LC's trust store, as `handler(payload) -> response payload`.

Each request is checked against the official OCPP 2.0.1 schema first; one that does not
conform raises `InvalidPayload`, which the LC's OCPP channel answers with the CALLERROR the
violation names. Every response is checked too: one that does not conform is a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from certificates.hash_data import same_certificate
from certificates.trust_store import ROOT_TYPES, DeleteOutcome, TrustStore
from router.frames import OcppVersion
from router.schemas import SchemaRegistry, SchemaViolation, default_registry

Payload = dict[str, Any]
Handler = Callable[[Payload], Payload]
# The hash data (in one algorithm) of the certificates the LC presents itself, which the CSMS
# may not delete (M04.FR.06).
OwnHashData = Callable[[str], list[Payload]]


class InvalidPayload(Exception):
    """A request that does not conform to its schema; `violation` names the CALLERROR."""

    def __init__(self, action: str, violation: SchemaViolation) -> None:
        super().__init__(f"{action}: {violation.detail}")
        self.violation = violation


def checked_payload(
    action: str, is_request: bool, payload: Payload, registry: SchemaRegistry | None = None
) -> Payload:
    """`payload` if it conforms to its OCPP 2.0.1 schema; a request that does not raises
    InvalidPayload, a response that does not (a bug of the LC) AssertionError."""
    violation = (registry or default_registry()).check(
        OcppVersion.V201, action, is_request, payload
    )
    if violation is None:
        return payload
    if is_request:
        raise InvalidPayload(action, violation)
    raise AssertionError(f"{action} response does not conform: {violation.detail}")


class CertificateHandlers:
    """InstallCertificate, GetInstalledCertificateIds and DeleteCertificate on a trust store."""

    def __init__(
        self,
        store: TrustStore,
        own_hash_data: OwnHashData = lambda algorithm: [],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        registry: SchemaRegistry | None = None,
    ) -> None:
        self._store = store
        self._own_hash_data = own_hash_data
        self._clock = clock
        self._registry = registry or default_registry()

    def table(self) -> dict[str, Handler]:
        """The handlers by action, for the LC's OCPP channel to register."""
        return {
            "InstallCertificate": self.install_certificate,
            "GetInstalledCertificateIds": self.get_installed_certificate_ids,
            "DeleteCertificate": self.delete_certificate,
        }

    def _checked(self, action: str, is_request: bool, payload: Payload) -> Payload:
        return checked_payload(action, is_request, payload, self._registry)

    def install_certificate(self, payload: Payload) -> Payload:
        request = self._checked("InstallCertificate", True, payload)
        outcome = self._store.install(
            request["certificateType"], request["certificate"], self._clock()
        )
        return self._checked("InstallCertificate", False, {"status": outcome.value})

    def get_installed_certificate_ids(self, payload: Payload) -> Payload:
        request = self._checked("GetInstalledCertificateIds", True, payload)
        # The LC holds no V2G certificate chain: that type only ever matches nothing.
        wanted = request.get("certificateType", list(ROOT_TYPES))
        chains = [
            {"certificateType": entry.certificate_type, "certificateHashData": entry.hash_data()}
            for certificate_type in ROOT_TYPES
            if certificate_type in wanted
            for entry in self._store.installed(certificate_type)
        ]
        response: Payload = {"status": "Accepted" if chains else "NotFound"}
        if chains:
            response["certificateHashDataChain"] = chains
        return self._checked("GetInstalledCertificateIds", False, response)

    def delete_certificate(self, payload: Payload) -> Payload:
        request = self._checked("DeleteCertificate", True, payload)
        hash_data = request["certificateHashData"]
        own = self._own_hash_data(hash_data["hashAlgorithm"])
        if any(same_certificate(hash_data, candidate) for candidate in own):
            outcome = DeleteOutcome.FAILED  # M04.FR.06: never the LC's own certificate
        else:
            outcome = self._store.delete(hash_data)
        return self._checked("DeleteCertificate", False, {"status": outcome.value})
