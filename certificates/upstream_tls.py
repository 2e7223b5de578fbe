"""The LC's TLS client context towards the CSMS from what the CSMS manages: one of the LC's
charging-station certificates and the CSMS roots it installed, besides the configured ones."""

from __future__ import annotations

import ssl
from dataclasses import replace

from certificates.own_identity import OwnCertificate
from certificates.trust_store import TrustStore
from router.tls import UpstreamTlsSettings, upstream_context


def managed_upstream_context(
    configured: UpstreamTlsSettings, presented: OwnCertificate | None, store: TrustStore
) -> ssl.SSLContext:
    """The configured settings with `presented` (if any) in place of the configured
    certificate, and the installed CSMS roots trusted as well."""
    settings = configured
    if presented is not None:
        settings = replace(
            settings, certificate=presented.certificate_path, private_key=presented.key_path
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
