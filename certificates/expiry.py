"""`ocpp_lc_certificate_expiry_timestamp_seconds{use}`: when the first certificate of each use
expires, read at every scrape, so a renewed file or an installed root shows at once.

Uses: charger_server, charger_ca ([router.tls]), upstream_client, upstream_ca
([router.upstream_tls]), the LC's renewed charging-station certificate (upstream_client too:
the newest valid one replaces the configured one) and each type of installed root
(CSMSRootCertificate, ...).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from cryptography import x509
from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.registry import Collector

from certificates.own_identity import OwnCertificates
from certificates.trust_store import ROOT_TYPES, TrustStore
from router.log_limit import LogLimiter

log = logging.getLogger(__name__)

NAME = "ocpp_lc_certificate_expiry_timestamp_seconds"
DOCUMENTATION = "When the first certificate of this use the LC presents or trusts expires"

CertificatesByUse = Callable[[], Iterable[tuple[str, x509.Certificate]]]


def from_files(files: Callable[[], Iterable[tuple[str, Path]]]) -> CertificatesByUse:
    """Every certificate in the PEM files `files` names now (a chain or a CA bundle), by use."""
    unreadable = LogLimiter(60.0)

    def read() -> Iterator[tuple[str, x509.Certificate]]:
        for use, path in files():
            try:
                certificates = x509.load_pem_x509_certificates(path.read_bytes())
            except (OSError, ValueError) as exc:
                if unreadable.allow(str(path), time.monotonic()) is not None:
                    log.warning("certificate expiry: %s unreadable: %s", path, exc)
                continue
            for certificate in certificates:
                yield use, certificate

    return read


def from_managed(
    store: TrustStore, own: OwnCertificates, clock: Callable[[], datetime]
) -> CertificatesByUse:
    """The installed roots by type, and the LC's renewed certificate in use."""

    def read() -> Iterator[tuple[str, x509.Certificate]]:
        for certificate_type in ROOT_TYPES:
            for root in store.roots(certificate_type):
                yield certificate_type, root
        current = own.current(clock())
        if current is not None:
            yield "upstream_client", current.certificate

    return read


class CertificateExpiry(Collector):
    def __init__(self, *sources: CertificatesByUse) -> None:
        self._sources = sources

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(NAME, DOCUMENTATION, labels=["use"])]

    def earliest(self) -> dict[str, float]:
        """The earliest expiry per use, as a Unix timestamp; a later source's use replaces an
        earlier one's (the renewed certificate in use replaces the configured one)."""
        merged: dict[str, float] = {}
        for source in self._sources:
            earliest: dict[str, float] = {}
            for use, certificate in source():
                expires = certificate.not_valid_after_utc.timestamp()
                earliest[use] = min(expires, earliest.get(use, expires))
            merged |= earliest
        return merged

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(NAME, DOCUMENTATION, labels=["use"])
        for use, expires in sorted(self.earliest().items()):
            family.add_metric([use], expires)
        yield family
