"""The LC's own identity at the CSMS: its link, boot and the settings the CSMS changed."""

from __future__ import annotations

from html import escape

from lc.status_page import cells
from lc.status_page.site import cap_in_words
from lc.status_page.snapshot import StatusSnapshot

_STATION_STATES = {
    "disconnected": ("not connected: dialling the CSMS", True),
    "booting": ("connected, waiting for the CSMS to answer its boot", False),
    "pending": ("Pending: the CSMS has not accepted it yet", True),
    "rejected": ("Rejected by the CSMS: it boots again later", True),
    "accepted": ("Accepted by the CSMS", False),
}


def station_section(snapshot: StatusSnapshot) -> list[str]:
    station = snapshot.station
    if station is None:
        return []
    words, warn = _STATION_STATES[station.state]
    state = f'<span class="warn">{words}</span>' if warn else words
    lines = [
        "<h2>The LC at the CSMS</h2>",
        f"<p>As <b>{escape(station.identity)}</b>: {state}.",
    ]
    if station.boot_status is not None and station.state in ("disconnected", "booting"):
        lines.append(f" Its last boot was answered {escape(station.boot_status)}.")
    if station.network_slot is not None:
        over = "over" if station.state != "disconnected" else "last over"
        lines.append(
            f" {over.capitalize()} network profile slot {station.network_slot}"
            f" ({escape(station.network_url)})."
        )
    if station.reconnects:
        times = "once" if station.reconnects == 1 else f"{station.reconnects} times"
        lines.append(f" The link was lost {times} since the start.")
    if station.cap is not None:
        lines.append(f" {cap_in_words(station.cap)}")
    lines.append("</p>")
    if station.csms_settings:
        lines += [
            "<p>Settings the CSMS changed, in force until the config file changes them:</p>",
            '<div class="scroll">',
            cells.table_head("setting", "in force", "config file"),
        ]
        for key, (value, file_value) in sorted(station.csms_settings.items()):
            lines.append(cells.row(escape(key), escape(value), escape(file_value)))
        lines.append("</table></div>")
    return lines
