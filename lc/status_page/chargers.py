"""The chargers: their link, connectors, load balancing and messages waiting for the CSMS."""

from __future__ import annotations

from html import escape

from lc.status_page import cells
from lc.status_page.snapshot import BalancerStatus, StatusSnapshot
from lc.wording import (
    connectors_in_words,
)


def chargers_section(snapshot: StatusSnapshot) -> list[str]:
    chargers = sorted(snapshot.chargers, key=lambda c: c.identity)
    # Named in the config, or with a backlog (gone during an outage), and not seen since.
    seen = {charger.identity for charger in chargers}
    absent = sorted((set(snapshot.expected) | set(snapshot.backlog)) - seen)
    connected = sum(1 for c in chargers if c.connected)
    parts = [
        f"<h2>Chargers ({connected} of {len(chargers) + len(absent)} connected)</h2>",
        '<div class="scroll">',
        cells.table_head(
            "charger", "link", "connectors", "load balancing", "vendor / model / firmware", "OCPP"
        ),
    ]
    balancer = snapshot.balancer
    for charger in chargers:
        since = cells.since(charger.since, snapshot.now)
        if charger.connected:
            link = f"online since {since}"
            if not charger.csms_connected:
                link += '<br><span class="warn">CSMS unreachable: the LC answers</span>'
        else:
            reason = escape(charger.disconnect_reason or "")
            link = f'<span class="warn">offline since {since}</span> '
            link += f'<span class="muted">{reason}</span>'
        if charger.identity in snapshot.backlog:
            link += "<br>" + _backlog_note(snapshot, charger.identity)
        hardware = " / ".join(
            escape(v) for v in (charger.vendor, charger.model, charger.firmware) if v
        )
        parts.append(
            cells.row(
                escape(charger.identity),
                link,
                escape(connectors_in_words(charger.statuses)) or "–",
                _control_note(charger.identity, balancer),
                hardware or "–",
                escape(charger.version.value),
            )
        )
    for identity in absent:
        since = cells.since(snapshot.started_at, snapshot.now)
        link = (
            f'<span class="warn">offline since {since}</span> '
            '<span class="muted">not connected since the LC started</span>'
        )
        if identity in snapshot.backlog:
            link += "<br>" + _backlog_note(snapshot, identity)
        parts.append(cells.row(escape(identity), link, "–", "–", "–", "–"))
    parts.append("</table></div>")
    return parts


def _backlog_note(snapshot: StatusSnapshot, identity: str) -> str:
    count, oldest = snapshot.backlog[identity]
    note = (
        f"{count} message{'s' if count != 1 else ''} waiting for the CSMS "
        f"(oldest {cells.ago(snapshot.now - oldest)})"
    )
    if identity in snapshot.waiting_for_charger:
        note += (
            '<br><span class="warn">they wait for this charger to reconnect: the LC keeps '
            "no credentials to deliver them without it</span>"
        )
    return note


def _control_note(identity: str, balancer: BalancerStatus | None) -> str:
    if balancer is None:
        return "–"
    notes = []
    if identity in balancer.station_max:
        notes.append("through its charger maximum")
    controls = [
        control for key, control in balancer.evses.items() if key.startswith(f"{identity}/")
    ]
    if any(not control.set_up for control in controls):
        notes.append("being set up: planned at its maximum")
    elif any(not control.obeys for control in controls):
        notes.append('<span class="warn">ignores its limit: planned at its maximum</span>')
    return ", ".join(notes) or "charging profiles"
