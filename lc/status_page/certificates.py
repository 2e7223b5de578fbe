"""The certificates the LC presents or trusts, and a CSMS certificate it refused."""

from __future__ import annotations

import time
from html import escape

from lc.status_page import cells
from lc.status_page.snapshot import StatusSnapshot

CERTIFICATE_WARNING_DAYS = 30  # as the alert OcppLcCertificateExpiresSoon


def certificates_section(snapshot: StatusSnapshot) -> list[str]:
    if not snapshot.certificate_expiry:
        return []
    rows = ["<h2>Certificates</h2>", '<div class="scroll">', cells.table_head("Use", "Expires")]
    for use, expires in sorted(snapshot.certificate_expiry.items(), key=lambda item: item[1]):
        days = (expires - snapshot.now) / 86400
        when = time.strftime("%Y-%m-%d", time.gmtime(expires))
        left = "expired" if days < 0 else f"in {days:.0f} days"
        warn = ' class="warn"' if days < CERTIFICATE_WARNING_DAYS else ""
        rows.append(f"<tr><td>{escape(use)}</td><td{warn}>{when} ({left})</td></tr>")
    return [*rows, "</table></div>"]


def csms_certificate_section(snapshot: StatusSnapshot) -> list[str]:
    if not snapshot.csms_certificate_invalid:
        return []
    return [
        '<p class="warn">CSMS certificate invalid: the LC does not connect to the CSMS; it '
        "answers the chargers and keeps their messages until the CSMS presents a certificate "
        "it trusts.</p>"
    ]
