"""The certificate messages of the LC's own link as the OCPP 1.6 security whitepaper (edition 3)
words them, pure: a 1.6 request read in 2.0.1's words, so the one workflow
(`StationCertificates`) serves both versions, and its answers and SignCertificate requests put
back in 1.6's.

What differs: 1.6 names the CSMS root `CentralSystemRootCertificate` and knows only it and the
manufacturer's root; GetInstalledCertificateIds asks for one type and lists the hash data
alone; SignCertificate and CertificateSigned have no certificate type (the LC's own is the
only one). DeleteCertificate is worded the same. No 1.6 answer carries statusInfo: the session
leaves it out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]
Handler = Callable[[Payload], Payload]

# 1.6 certificate type -> 2.0.1's (CertificateUseEnumType).
ROOT_TYPES = {
    "CentralSystemRootCertificate": "CSMSRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
}


def request_in_201(action: str, request: Payload) -> Payload:
    """A schema-valid 1.6 request of the CSMS in 2.0.1's words."""
    if action == "InstallCertificate":
        return {**request, "certificateType": ROOT_TYPES[request["certificateType"]]}
    if action == "GetInstalledCertificateIds":
        return {"certificateType": [ROOT_TYPES[request["certificateType"]]]}
    return request


def answer_in_16(action: str, answer: Payload) -> Payload:
    """The LC's 2.0.1 answer to `action` in 1.6's words."""
    if action != "GetInstalledCertificateIds":
        return answer
    worded: Payload = {"status": answer["status"]}
    chains = answer.get("certificateHashDataChain", [])
    if chains:
        worded["certificateHashData"] = [chain["certificateHashData"] for chain in chains]
    return worded


def worded_in_16(action: str, handler: Handler) -> Handler:
    """`handler` of 2.0.1's `action` answering the 1.6 call of that name."""

    def handle(request: Payload) -> Payload:
        return answer_in_16(action, handler(request_in_201(action, request)))

    return handle


def sign_certificate_in_16(request: Payload) -> Payload:
    """The LC's 2.0.1 SignCertificateRequest in 1.6's words: the CSR alone."""
    return {"csr": request["csr"]}
