"""The sessions now, with their limit and why, and those recently ended."""

from __future__ import annotations

from html import escape

from lc.site_view import ChargerView, SessionView
from lc.status_page import cells
from lc.status_page.snapshot import BalancerStatus, EvseControl, StatusSnapshot
from lc.wording import (
    car_activity,
)


def sessions_section(snapshot: StatusSnapshot) -> list[str]:
    sessions = sorted(
        ((s, c) for c in snapshot.chargers for s in c.sessions.values()),
        key=lambda item: (item[0].identity, item[0].evse_id or 0),
    )
    parts = [
        f"<h2>Sessions ({len(sessions)})</h2>",
        '<div class="scroll">',
        cells.table_head(
            "charger",
            "connector",
            "the car",
            "current per phase",
            "power",
            "energy",
            "started",
            "priority",
            "limit",
            "why this limit",
            "transaction",
        ),
    ]
    for session, charger in sessions:
        control = _control(session, snapshot.balancer)
        parts.append(
            cells.row(
                escape(session.identity),
                str(session.evse_id or "–"),
                _activity(session, charger, control),
                " / ".join(cells.amps(a) for a in session.current_a),
                cells.kilo(session.power_w, "kW"),
                cells.kilo(session.delivered_wh, "kWh"),
                cells.ago(snapshot.now - session.started_at),
                "–" if control is None else f"{control.priority:d}",
                _limit(control),
                "–" if control is None else escape(control.reason or "–"),
                escape(session.transaction_id),
            )
        )
    parts.append("</table></div>")
    if snapshot.balancer is not None and sessions:
        parts.append(
            '<p class="muted">Priority: a higher number is served first; sessions of equal '
            "priority share the room under the cap evenly.</p>"
        )
    return parts


def _control(session: SessionView, balancer: BalancerStatus | None) -> EvseControl | None:
    if balancer is None or session.evse_id is None:
        return None
    return balancer.evses.get(f"{session.identity}/{session.evse_id}")


def _activity(session: SessionView, charger: ChargerView, control: EvseControl | None) -> str:
    if session.energy_suspended:
        return '<span class="warn">energy stopped: id refused by the CSMS</span>'
    drawn = [amps for amps in session.current_a if amps is not None]
    return escape(
        car_activity(
            session.charging_state or _evse_status(charger, session.evse_id),
            None if control is None else control.limit_a,
            None if control is None else control.paused,
            max(drawn) if drawn else None,
        )
    )


def _evse_status(charger: ChargerView, evse_id: int | None) -> str | None:
    """What the charger last said of the session's EVSE (1.6 has no charging state)."""
    statuses = [status for (evse, _), status in charger.statuses.items() if evse == evse_id]
    return statuses[-1] if statuses else None


def _limit(control: EvseControl | None) -> str:
    if control is None:
        return "–"
    return "0 A" if control.paused is not None else cells.amps(control.limit_a)


def ended_section(snapshot: StatusSnapshot) -> list[str]:
    if not snapshot.ended:
        return []
    parts = [
        "<h2>Recently ended</h2>",
        '<div class="scroll">',
        cells.table_head(
            "charger", "connector", "ended", "duration", "energy", "reason", "transaction"
        ),
    ]
    for session in reversed(snapshot.ended):
        ended_at = session.ended_at if session.ended_at is not None else snapshot.now
        parts.append(
            cells.row(
                escape(session.identity),
                str(session.evse_id or "–"),
                cells.ago(snapshot.now - ended_at),
                cells.duration(ended_at - session.started_at),
                cells.kilo(session.delivered_wh, "kWh"),
                escape(session.end_reason or "–"),
                escape(session.transaction_id),
            )
        )
    parts.append("</table></div>")
    return parts
