"""The LC's security log and the chargers' network profiles the CSMS touched."""

from __future__ import annotations

import time
from html import escape

from lc.status_page import cells
from lc.status_page.snapshot import StatusSnapshot


def security_section(snapshot: StatusSnapshot) -> list[str]:
    security = snapshot.security
    if security is None:
        return []
    lines = ["<h2>Security log</h2>"]
    relayed, rejected = security.network_profiles_relayed, security.network_profiles_rejected
    if relayed or rejected:
        lines.append(
            f'<p class="warn">The CSMS sent chargers SetNetworkProfile {relayed + rejected} '
            f"times: {relayed} relayed, {rejected} rejected by the LC.</p>"
        )
    if security.unsent:
        lines.append(f"<p>{security.unsent} critical events wait for the CSMS.</p>")
    lines += ['<div class="scroll">', cells.table_head("When", "Event", "Details")]
    for event in security.recent:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event.timestamp))
        kind = (
            f'<span class="warn">{escape(event.type)}</span>'
            if event.critical
            else escape(event.type)
        )
        lines.append(cells.row(when, kind, escape(event.tech_info)))
    return [*lines, "</table></div>"]
