"""The site manager's status page: chargers, sessions and the last hour of current vs cap.

`render` is a pure function from a `StatusSnapshot` to one self-contained HTML page (inline
SVG charts, no scripts, no external files), so it works on a site network with no internet.
Every text that comes from a charger (identity, vendor, firmware, reasons) is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from balancer.allocate import Mode
from balancer.history import SiteSample
from balancer.site import PhaseValues
from lc.site_view import ChargerView, SessionView

REFRESH_S = 5
CHART_COLUMNS = 360  # one column per 10 s of the hour: enough for a 600 px wide chart
# A young history is drawn over at least this span, so its first minutes are readable.
MIN_CHART_SPAN_S = 300.0
_WIDTH, _HEIGHT = 640, 180
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 8, 10, 22
_PHASE_COLOURS = ("#b5651d", "#222222", "#777777")  # IEC 60445: brown, black, grey
_MODE_SHADES = {Mode.SAFE: "#e8e8e8", Mode.OVERLOAD: "#f8d0d0"}


@dataclass(frozen=True, slots=True)
class EvseControl:
    """What the load balancer does with one EVSE."""

    limit_a: float | None  # the limit in force on the charger; None: none sent yet
    paused: str | None  # why the allocation gives this session 0 A
    obeys: bool


@dataclass(frozen=True, slots=True)
class BalancerStatus:
    mode: Mode | None  # None before the first control period
    caps: PhaseValues
    margin: float
    measured: PhaseValues | None  # the latest fresh meter reading
    history: Sequence[SiteSample]
    window_s: float
    evses: Mapping[str, EvseControl]  # by "identity/evse id"
    station_max: frozenset[str]  # chargers limited through their charger maximum profile


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    now: float  # wall time
    chargers: Sequence[ChargerView]
    ended: Sequence[SessionView]  # newest last
    balancer: BalancerStatus | None  # None: the LC only routes
    # Journaled messages the CSMS has not received yet, per charger: (count, oldest wall time).
    backlog: Mapping[str, tuple[int, float]] = field(default_factory=dict)
    # Chargers not connected whose backlog the LC cannot deliver without them.
    waiting_for_charger: frozenset[str] = frozenset()


def render(snapshot: StatusSnapshot) -> str:
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="refresh" content="{REFRESH_S}">',
        "<title>OCPP Local Controller</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>OCPP Local Controller</h1>",
    ]
    if snapshot.balancer is not None:
        parts += _site_section(snapshot.balancer)
    parts += _chargers_section(snapshot)
    parts += _sessions_section(snapshot)
    parts += _ended_section(snapshot)
    parts.append("</body></html>")
    return "\n".join(parts)


_STYLE = (
    "body{font-family:sans-serif;margin:1em 2em;color:#222}"
    "table{border-collapse:collapse;margin-bottom:1.5em}"
    "td,th{border-bottom:1px solid #ddd;padding:3px 10px;text-align:left}"
    ".warn{color:#b00000;font-weight:bold}.muted{color:#777}"
    ".charts{display:flex;flex-wrap:wrap;gap:1em}"
    "svg text{font-size:11px;fill:#444}"
)


# -- the site: cap, current and the charts --------------------------------------------------


def _site_section(status: BalancerStatus) -> list[str]:
    mode = status.mode.value if status.mode is not None else "starting"
    warn = status.mode is not None and status.mode is not Mode.NORMAL
    parts = [
        "<h2>Grid connection</h2>",
        f'<p>Mode: <span class="{"warn" if warn else ""}">{escape(mode)}</span>',
        f" &middot; margin {status.margin:g} A"
        + (
            ""
            if status.measured is not None
            else ' &middot; <span class="warn">no meter reading</span>'
        )
        + "</p>",
        _table_head("phase", "measured", "cap", "use"),
    ]
    for phase, cap in enumerate(status.caps):
        measured = None if status.measured is None else status.measured[phase]
        use = "–" if measured is None else f"{measured / cap * 100:.0f} %"
        above = ' class="warn"' if measured is not None and measured > cap else ""
        parts.append(
            f"<tr><td>L{phase + 1}</td><td{above}>{_amps(measured)}</td>"
            f"<td>{cap:g} A</td><td>{use}</td></tr>"
        )
    parts.append("</table>")
    span = chart_span(status.history, status.window_s)
    parts.append('<div class="charts">')
    parts += [phase_chart(status.history, phase, span) for phase in range(3)]
    parts.append("</div>")
    parts.append(
        '<p class="muted">Solid: current measured at the grid connection. Dotted: current '
        "planned for the cars. Red dashed: the cap; orange: cap minus margin. Shaded: meter "
        f"lost (grey) or overload (red). Each point is the highest value of its "
        f"{span / CHART_COLUMNS:.2g} s.</p>"
    )
    return parts


@dataclass(slots=True)
class _Column:
    measured: float | None = None
    planned: float = 0.0
    cap: float = 0.0
    margin: float = 0.0
    mode: Mode = Mode.NORMAL


def _columns(
    samples: Sequence[SiteSample], phase: int, start: float, window_s: float
) -> dict[int, _Column]:
    """The samples in fixed time columns, keeping each column's peaks (a fuse cares about
    peaks) and its worst mode."""
    columns: dict[int, _Column] = {}
    for sample in samples:
        index = min(CHART_COLUMNS - 1, int((sample.at - start) / window_s * CHART_COLUMNS))
        if index < 0:
            continue
        column = columns.setdefault(index, _Column(cap=sample.caps[phase], margin=sample.margin))
        if sample.currents is not None:
            current = sample.currents[phase]
            column.measured = current if column.measured is None else max(column.measured, current)
        column.planned = max(column.planned, sample.planned[phase])
        column.cap = min(column.cap, sample.caps[phase])
        column.margin = max(column.margin, sample.margin)
        if sample.mode is not Mode.NORMAL:
            column.mode = sample.mode
    return columns


def chart_span(samples: Sequence[SiteSample], window_s: float) -> float:
    """The seconds the charts cover: the history's age, within [MIN_CHART_SPAN_S, window]."""
    age = samples[-1].at - samples[0].at if samples else 0.0
    return min(window_s, max(MIN_CHART_SPAN_S, age))


def phase_chart(samples: Sequence[SiteSample], phase: int, window_s: float) -> str:
    """One phase's last `window_s` as an SVG chart; the right edge is the newest sample."""
    title = f"L{phase + 1}"
    if not samples:
        label = f"{title}: no data yet"
        return f'<svg width="{_WIDTH}" height="{_HEIGHT}" role="img" aria-label="{label}"></svg>'
    end = samples[-1].at
    start = end - window_s
    columns = _columns(samples, phase, start, window_s)
    peak = max(
        max((c.measured or 0.0, c.planned, c.cap) for c in columns.values()),
        default=1.0,
    )
    top = _nice_ceiling(peak * 1.1)
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM

    def x(index: int) -> float:
        return _LEFT + (index + 0.5) / CHART_COLUMNS * plot_w

    def y(amps: float) -> float:
        return _TOP + plot_h * (1 - amps / top)

    parts = [
        f'<svg width="{_WIDTH}" height="{_HEIGHT}" role="img" '
        f'aria-label="{title}: current and cap over the last {_duration(window_s)}">'
    ]
    for index, column in sorted(columns.items()):
        shade = _MODE_SHADES.get(column.mode)
        if shade is not None:
            width = plot_w / CHART_COLUMNS
            parts.append(
                f'<rect class="mode-{column.mode.value}" x="{x(index) - width / 2:.1f}" y="{_TOP}" '
                f'width="{width:.1f}" height="{plot_h}" fill="{shade}"/>'
            )
    step = _nice_ceiling(top / 4)
    level = 0.0
    while level <= top:
        parts.append(
            f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y(level):.1f}" y2="{y(level):.1f}" '
            f'stroke="#eee"/><text x="{_LEFT - 4}" y="{y(level) + 4:.1f}" '
            f'text-anchor="end">{level:g} A</text>'
        )
        level += step
    ordered = sorted(columns.items())
    series = [
        ("cap", [(i, c.cap) for i, c in ordered], 'stroke="#c00000" stroke-dasharray="6 3"'),
        (
            "cap-margin",
            [(i, c.cap - c.margin) for i, c in ordered],
            'stroke="#e08000" stroke-dasharray="2 3"',
        ),
        (
            "planned",
            [(i, c.planned) for i, c in ordered],
            f'stroke="{_PHASE_COLOURS[phase]}" stroke-dasharray="1 2"',
        ),
    ]
    for name, points, style in series:
        parts.append(_polyline(name, [[(x(i), y(a)) for i, a in points]], style))
    measured_runs: list[list[tuple[float, float]]] = [[]]
    for index, column in ordered:
        if column.measured is None:
            measured_runs.append([])  # a gap where the meter gave nothing
        else:
            measured_runs[-1].append((x(index), y(column.measured)))
    parts.append(
        _polyline("measured", measured_runs, f'stroke="{_PHASE_COLOURS[phase]}" stroke-width="2"')
    )
    parts.append(
        f'<text x="{_LEFT}" y="{_HEIGHT - 6}">-{_duration(window_s)}</text>'
        f'<text x="{_WIDTH - _RIGHT}" y="{_HEIGHT - 6}" text-anchor="end">now</text>'
        f'<text x="{_LEFT + 6}" y="{_TOP + 12}">{title}</text></svg>'
    )
    return "".join(parts)


def _polyline(name: str, runs: list[list[tuple[float, float]]], style: str) -> str:
    return "".join(
        f'<polyline class="{name}" fill="none" {style} points="'
        + " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
        + '"/>'
        for run in runs
        if run
    )


def _nice_ceiling(value: float) -> float:
    """The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^n) at least `value`."""
    if value <= 0:
        return 1.0
    scale = 1.0
    while scale * 10 < value:
        scale *= 10
    while scale > value:
        scale /= 10
    for factor in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if scale * factor >= value:
            return scale * factor
    return scale * 10


# -- chargers and sessions ------------------------------------------------------------------


def _chargers_section(snapshot: StatusSnapshot) -> list[str]:
    chargers = sorted(snapshot.chargers, key=lambda c: c.identity)
    connected = sum(1 for c in chargers if c.connected)
    parts = [
        f"<h2>Chargers ({connected} of {len(chargers)} connected)</h2>",
        _table_head(
            "charger", "OCPP", "link", "connectors", "vendor / model / firmware", "load balancing"
        ),
    ]
    balancer = snapshot.balancer
    for charger in chargers:
        ago = _ago(snapshot.now - charger.since)
        if charger.connected:
            link = f"connected {ago}"
            if not charger.csms_connected:
                link += '<br><span class="warn">CSMS unreachable: the LC answers</span>'
        else:
            reason = escape(charger.disconnect_reason or "")
            link = (
                f'<span class="warn">disconnected {ago}</span> <span class="muted">{reason}</span>'
            )
        if charger.identity in snapshot.backlog:
            link += "<br>" + _backlog_note(snapshot, charger.identity)
        statuses = ", ".join(
            f"{evse}{'' if connector is None else f'.{connector}'}: {escape(status)}"
            for (evse, connector), status in sorted(
                charger.statuses.items(), key=lambda item: (item[0][0], item[0][1] or 0)
            )
        )
        hardware = " / ".join(
            escape(v) for v in (charger.vendor, charger.model, charger.firmware) if v
        )
        parts.append(
            _row(
                escape(charger.identity),
                escape(charger.version.value),
                link,
                statuses or "–",
                hardware or "–",
                _control_note(charger.identity, balancer),
            )
        )
    parts.append("</table>")
    # Backlogs of chargers not seen since the LC started (they left during an outage).
    shown = {charger.identity for charger in chargers}
    parts += [
        f"<p>{escape(identity)} (not connected): {_backlog_note(snapshot, identity)}</p>"
        for identity in sorted(set(snapshot.backlog) - shown)
    ]
    return parts


def _backlog_note(snapshot: StatusSnapshot, identity: str) -> str:
    count, oldest = snapshot.backlog[identity]
    note = (
        f"{count} message{'s' if count != 1 else ''} waiting for the CSMS "
        f"(oldest {_ago(snapshot.now - oldest)})"
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
    if any(
        not control.obeys
        for key, control in balancer.evses.items()
        if key.startswith(f"{identity}/")
    ):
        notes.append('<span class="warn">ignores its limit: planned at its maximum</span>')
    return ", ".join(notes) or "charging profiles"


def _sessions_section(snapshot: StatusSnapshot) -> list[str]:
    sessions = sorted(
        ((s, c) for c in snapshot.chargers for s in c.sessions.values()),
        key=lambda item: (item[0].identity, item[0].evse_id or 0),
    )
    parts = [
        f"<h2>Sessions ({len(sessions)})</h2>",
        _table_head(
            "charger",
            "EVSE",
            "transaction",
            "started",
            "state",
            "current per phase",
            "power",
            "energy",
            "LC limit",
        ),
    ]
    for session, charger in sessions:
        state = escape(session.charging_state or _evse_status(charger, session.evse_id))
        if session.energy_suspended:
            state += ' <span class="warn">energy stopped: id refused by the CSMS</span>'
        parts.append(
            _row(
                escape(session.identity),
                str(session.evse_id or "–"),
                escape(session.transaction_id),
                _ago(snapshot.now - session.started_at),
                state,
                " / ".join(_amps(a) for a in session.current_a),
                _kilo(session.power_w, "kW"),
                _kilo(session.delivered_wh, "kWh"),
                _limit(session, snapshot.balancer),
            )
        )
    parts.append("</table>")
    return parts


def _evse_status(charger: ChargerView, evse_id: int | None) -> str:
    """What the charger last said of the session's EVSE (1.6 has no charging state)."""
    statuses = [status for (evse, _), status in charger.statuses.items() if evse == evse_id]
    return statuses[-1] if statuses else "–"


def _limit(session: SessionView, balancer: BalancerStatus | None) -> str:
    if balancer is None or session.evse_id is None:
        return "–"
    control = balancer.evses.get(f"{session.identity}/{session.evse_id}")
    if control is None:
        return "–"
    if control.paused is not None:
        return f"paused ({escape(control.paused.replace('_', ' '))})"
    return _amps(control.limit_a)


def _ended_section(snapshot: StatusSnapshot) -> list[str]:
    if not snapshot.ended:
        return []
    parts = [
        "<h2>Recently ended</h2>",
        _table_head("charger", "EVSE", "transaction", "ended", "duration", "energy", "reason"),
    ]
    for session in reversed(snapshot.ended):
        ended_at = session.ended_at if session.ended_at is not None else snapshot.now
        parts.append(
            _row(
                escape(session.identity),
                str(session.evse_id or "–"),
                escape(session.transaction_id),
                _ago(snapshot.now - ended_at),
                _duration(ended_at - session.started_at),
                _kilo(session.delivered_wh, "kWh"),
                escape(session.end_reason or "–"),
            )
        )
    parts.append("</table>")
    return parts


def _table_head(*names: str) -> str:
    return "<table><tr>" + "".join(f"<th>{name}</th>" for name in names) + "</tr>"


def _row(*cells: str) -> str:
    """A table row of cells that are HTML already (texts from chargers escaped)."""
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _amps(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} A"


def _kilo(value: float | None, unit: str) -> str:
    return "–" if value is None else f"{value / 1000:.2f} {unit}"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _ago(seconds: float) -> str:
    return f"{_duration(seconds)} ago"
