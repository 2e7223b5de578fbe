"""The LC's TLS client context towards the CSMS from what the CSMS manages: the LC's newest
charging-station certificate and the CSMS roots it installed, besides the configured ones."""

from __future__ import annotations

import ssl
from dataclasses import replace
from datetime import datetime

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
    installed = store.roots_pem("CSMSRootCertificate")
    return upstream_context(replace(settings, installed_roots=installed))


def upload_context(store: TrustStore | None) -> ssl.SSLContext:
    """Towards an https:// GetLog location: the CSMS's trust chain, its installed roots
    (N01.FR.15), and the system's CAs, since the log storage may be a cloud service outside
    it (N01.FR.16)."""
    context = ssl.create_default_context()
    installed = store.roots_pem("CSMSRootCertificate") if store is not None else ""
    if installed:
        context.load_verify_locations(cadata=installed)
    return context
