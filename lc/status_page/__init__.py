"""The site manager's status page: chargers, sessions and the last hour of current vs cap.

`render` is a pure function from a `StatusSnapshot` to one self-contained HTML page (inline
SVG charts, no scripts, no external files), so it works on a site network with no internet.
Every text that comes from a charger (identity, vendor, firmware, reasons) is escaped.

The page is a list of sections (`SECTIONS`), each a function of the snapshot giving HTML
lines, each in a module of this package; a new thing to show is a new section or a new column
of one. What they show is snapshot.py; cells.py formats table cells, chart.py draws the charts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lc.status_page.certificates import certificates_section, csms_certificate_section
from lc.status_page.chargers import chargers_section
from lc.status_page.external_limit import external_limit_section
from lc.status_page.security import security_section
from lc.status_page.sessions import ended_section, sessions_section
from lc.status_page.site import site_section
from lc.status_page.snapshot import StatusSnapshot
from lc.status_page.software import software_section
from lc.status_page.station import station_section
from lc.status_page.transfers import transfers_section

REFRESH_S = 5


def render(snapshot: StatusSnapshot) -> str:
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="refresh" content="{REFRESH_S}">',
        "<title>OCPP Local Controller</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>OCPP Local Controller</h1>",
    ]
    for section in SECTIONS:
        parts += section(snapshot)
    parts.append("</body></html>")
    return "\n".join(parts)


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1em;color:#222;line-height:1.35}"
    "h1{font-size:1.4em}h2{font-size:1.2em;margin-top:1.2em}"
    ".scroll{overflow-x:auto;margin-bottom:1.2em}"
    "table{border-collapse:collapse}"
    "td,th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left;vertical-align:top}"
    "td:first-child{white-space:nowrap}"
    # A phone keeps rows one line high: a table scrolls sideways in its box instead of
    # squeezing every cell into a tall column of words.
    "@media (max-width:700px){td,th{white-space:nowrap}}"
    ".warn{color:#a00000;font-weight:bold}.muted{color:#666}"
    ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:1em}"
    "svg.chart{display:block;width:100%;height:auto}"
    "svg.chart text{font-size:15px;fill:#333}"
    ".legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.3em 1.6em}"
    ".legend svg{vertical-align:middle;margin-right:.4em}"
)


SECTIONS: Sequence[Callable[[StatusSnapshot], list[str]]] = (
    csms_certificate_section,
    site_section,
    station_section,
    external_limit_section,
    software_section,
    chargers_section,
    sessions_section,
    transfers_section,
    ended_section,
    certificates_section,
    security_section,
)
