"""The LC's TLS client context towards the CSMS from what the CSMS manages: the LC's newest
charging-station certificate and the CSMS roots it installed, besides the configured ones."""

from __future__ import annotations

import ssl
from dataclasses import replace
from datetime import datetime

from cryptography.hazmat.primitives import serialization

from certificates.own_identity import OwnCertificates
from certificates.trust_store import TrustStore
from router.tls import UpstreamTlsSettings, upstream_context


def managed_upstream_context(
    configured: UpstreamTlsSettings, own: OwnCertificates, store: TrustStore, now: datetime
) -> ssl.SSLContext:
    """The configured settings with the newest valid own certificate (if any) in place of the
    configured one, and the installed CSMS roots trusted as well."""
    settings = configured
    current = own.current(now)
    if current is not None:
        settings = replace(
            settings, certificate=current.certificate_path, private_key=current.key_path
        )
    roots = store.roots("CSMSRootCertificate")
    installed = "".join(
        root.public_bytes(serialization.Encoding.PEM).decode("ascii") for root in roots
    )
    return upstream_context(replace(settings, installed_roots=installed))
