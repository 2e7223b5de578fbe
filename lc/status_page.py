"""The site manager's status page: chargers, sessions and the last hour of current vs cap.

`render` is a pure function from a `StatusSnapshot` to one self-contained HTML page (inline
SVG charts, no scripts, no external files), so it works on a site network with no internet.
Every text that comes from a charger (identity, vendor, firmware, reasons) is escaped.

The page is a list of sections (`SECTIONS`), each a function of the snapshot giving HTML
lines; a new thing to show is a new section or a new column of one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from balancer.allocate import Mode
from balancer.history import SiteSample
from balancer.panels import PanelLoad
from balancer.site import PhaseValues
from balancer.site_cap import CapSource, SiteCap
from lc.site_view import ChargerView, SessionView
from lc.wording import (
    car_activity,
    connectors_in_words,
    location_without_credentials,
    transfer_words,
)
from station.security_log import SecurityEvent

REFRESH_S = 5
CHART_COLUMNS = 360  # one column per 10 s of the hour
# A young history is drawn over at least this span, so its first minutes are readable.
MIN_CHART_SPAN_S = 300.0
# The charts' drawing units: they scale to the width of the window (a phone shows one per
# row, a desktop three), their text with them.
_WIDTH, _HEIGHT = 440, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 58, 14, 30, 26
# Okabe-Ito colours, told apart with every common colour-vision deficiency; each line also
# has its own dash pattern, so nothing rests on colour alone.
MEASURED_COLOUR = "#0072B2"  # blue
PLANNED_COLOUR = "#56B4E9"  # sky blue: lighter, as a plan is to what happens
CAP_COLOUR = "#D55E00"  # vermillion
CAP_MARGIN_COLOUR = "#000000"  # black
METER_LOST_SHADE = "#BBBBBB"
_LINES = {
    "measured": f'stroke="{MEASURED_COLOUR}" stroke-width="2.5"',
    "planned": f'stroke="{PLANNED_COLOUR}" stroke-width="2" stroke-dasharray="2 3"',
    "cap": f'stroke="{CAP_COLOUR}" stroke-width="2" stroke-dasharray="9 4"',
    "cap-margin": f'stroke="{CAP_MARGIN_COLOUR}" stroke-width="2" stroke-dasharray="4 2 1 2"',
}


@dataclass(frozen=True, slots=True)
class EvseControl:
    """What the load balancer does with one EVSE."""

    limit_a: float | None  # the limit in force on the charger; None: none sent yet
    paused: str | None  # why the allocation gives this session 0 A (a PauseReason value)
    obeys: bool
    priority: int = 0  # higher is served first
    reason: str = ""  # one line: why the limit is what it is


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
    panels: Sequence[PanelLoad] = ()  # the distribution panels, parents first


@dataclass(frozen=True, slots=True)
class StationStatus:
    """The LC's own link to the CSMS."""

    identity: str
    state: str  # a LinkState value
    boot_status: str | None  # the CSMS's last answer to the LC's BootNotification
    reconnects: int
    cap: SiteCap | None = None  # None: the LC does not balance
    # The CSMS's settings in force over the config file's: key -> (value, the file's value).
    csms_settings: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # The network profile slot of the link and its URL (the last one while disconnected).
    network_slot: int | None = None
    network_url: str = ""


@dataclass(frozen=True, slots=True)
class ExternalLimitStatus:
    """An EMS's limit on the site from outside OCPP, A per phase, by input (None: none)."""

    http_a: float | None
    modbus_a: float | None
    cap: SiteCap  # the cap the balancer plans under, and which limit sets it


@dataclass(frozen=True, slots=True)
class SecurityStatus:
    """The LC's security log and what it saw of chargers' network profiles."""

    recent: Sequence[SecurityEvent]  # newest first
    unsent: int  # critical events the CSMS has not acknowledged yet
    # SetNetworkProfile calls of the CSMS to chargers: relayed, and rejected by the LC.
    network_profiles_relayed: int = 0
    network_profiles_rejected: int = 0


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
    # Chargers the config names: listed even while they have not connected.
    expected: Sequence[str] = ()
    started_at: float = 0.0  # wall time the LC started
    # When the first certificate of each use the LC presents or trusts expires (wall time).
    certificate_expiry: Mapping[str, float] = field(default_factory=dict)
    # The CSMS's certificate failed verification: chargers are held as in an outage.
    csms_certificate_invalid: bool = False
    station: StationStatus | None = None  # None: the LC has no identity of its own at the CSMS
    external_limit: ExternalLimitStatus | None = None  # None: no [external_limit]
    security: SecurityStatus | None = None


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


# -- the site: cap, current and the charts --------------------------------------------------


def _site_section(snapshot: StatusSnapshot) -> list[str]:
    status = snapshot.balancer
    if status is None:
        return []
    mode, warn = mode_words(status)
    parts = [
        "<h2>Grid connection</h2>",
        f'<p>Mode: <span class="mode{" warn" if warn else ""}">{escape(mode)}</span>'
        f" &middot; safety margin {status.margin:g} A</p>",
        '<div class="scroll">',
        _table_head("phase", "current now", "cap", "use"),
    ]
    for phase, cap in enumerate(status.caps):
        measured = None if status.measured is None else status.measured[phase]
        use = "–" if measured is None else f"{measured / cap * 100:.0f} %"
        above = ' class="warn"' if measured is not None and measured > cap else ""
        parts.append(
            f"<tr><td>L{phase + 1}</td><td{above}>{_amps(measured)}</td>"
            f"<td>{cap:g} A</td><td>{use}</td></tr>"
        )
    parts.append("</table></div>")
    parts += _panels_table(status.panels)
    span = chart_span(status.history, status.window_s)
    parts.append('<div class="charts">')
    parts += [phase_chart(status.history, phase, span) for phase in range(3)]
    parts.append("</div>")
    parts += _legend(span)
    return parts


def _panels_table(panels: Sequence[PanelLoad]) -> list[str]:
    """Per distribution panel and phase: current now against its fuse."""
    if not panels:
        return []
    parts = [
        '<div class="scroll">',
        _table_head("panel", "fed from", "L1", "L2", "L3", "current from"),
    ]
    for panel in panels:
        cells = []
        for phase, fuse in enumerate(panel.fuse):
            current = None if panel.current is None else panel.current[phase]
            above = current is not None and current > fuse
            text = f"{_amps(current)} of {fuse:g} A"
            cells.append(f'<span class="warn">{text}</span>' if above else text)
        if not panel.metered:
            source = "its chargers"
        elif panel.current is None:
            source = '<span class="warn">sub-meter stale: safe currents</span>'
        else:
            source = "its sub-meter"
        parent = "grid connection" if panel.parent is None else escape(panel.parent)
        parts.append(_row(escape(panel.name), parent, *cells, source))
    parts.append("</table></div>")
    return parts


def mode_words(status: BalancerStatus) -> tuple[str, bool]:
    """What the site is in now, and whether that needs attention."""
    above = [
        f"L{phase + 1}"
        for phase, cap in enumerate(status.caps)
        if status.measured is not None and status.measured[phase] > cap
    ]
    if above:
        return f"overload: {', '.join(above)} above the cap", True
    if status.mode is Mode.OVERLOAD:
        return "overload: the building alone is above the cap", True
    if status.mode is Mode.SAFE or (status.mode is not None and status.measured is None):
        return "meter lost: every car on its safe current", True
    if status.mode is None:
        return "starting", False
    return "normal: every phase under its cap", False


def _legend(span_s: float) -> list[str]:
    step = span_s / CHART_COLUMNS
    each = "each reading" if step < 1 else f"the highest in each {_duration(step)}"
    entries = [
        (_line_swatch("measured"), f"current at the grid connection ({each})"),
        (_line_swatch("planned"), "current the LC plans for the cars"),
        (_line_swatch("cap"), "grid cap: the most the site may draw"),
        (_line_swatch("cap-margin"), "cap minus the safety margin: the LC stays below it"),
        (_shade_swatch(f'fill="url(#{_HATCH_ID})"', _hatch_pattern()), "above the cap: overload"),
        (
            _shade_swatch(f'fill="{METER_LOST_SHADE}"'),
            "meter lost: every car on its safe current",
        ),
    ]
    return [
        '<ul class="legend">',
        *(f"<li>{swatch}{text}</li>" for swatch, text in entries),
        "</ul>",
    ]


def _line_swatch(name: str) -> str:
    return (
        f'<svg width="36" height="12" aria-hidden="true"><line x1="0" y1="6" x2="36" y2="6" '
        f"{_LINES[name]}/></svg>"
    )


def _shade_swatch(fill: str, defs: str = "") -> str:
    return (
        f'<svg width="24" height="14" aria-hidden="true">{defs}'
        f'<rect width="24" height="14" {fill} stroke="#999"/></svg>'
    )


_HATCH_ID = "overload-hatch"


def _hatch_pattern(suffix: str = "") -> str:
    """Diagonal vermillion stripes: an overload, told from a meter outage by more than hue."""
    return (
        f'<defs><pattern id="{_HATCH_ID}{suffix}" width="8" height="8" '
        'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        f'<rect width="8" height="8" fill="#fbe3d6"/>'
        f'<line x1="0" y1="0" x2="0" y2="8" stroke="{CAP_COLOUR}" stroke-width="4"/>'
        "</pattern></defs>"
    )


@dataclass(slots=True)
class _Column:
    measured: float | None = None
    planned: float = 0.0
    cap: float = 0.0
    margin: float = 0.0
    meter_lost: bool = False
    overload: bool = False


def _columns(
    samples: Sequence[SiteSample], phase: int, start: float, window_s: float
) -> dict[int, _Column]:
    """The samples in fixed time columns, keeping each column's peaks (a fuse cares about
    peaks), and whether the meter was lost or the phase above its cap in it."""
    columns: dict[int, _Column] = {}
    for sample in samples:
        index = min(CHART_COLUMNS - 1, int((sample.at - start) / window_s * CHART_COLUMNS))
        if index < 0:
            continue
        cap = sample.caps[phase]
        column = columns.setdefault(index, _Column(cap=cap, margin=sample.margin))
        if sample.currents is not None:
            current = sample.currents[phase]
            column.measured = current if column.measured is None else max(column.measured, current)
            column.overload |= current > cap
        column.planned = max(column.planned, sample.planned[phase])
        column.cap = min(column.cap, cap)
        column.margin = max(column.margin, sample.margin)
        column.meter_lost |= sample.currents is None or sample.mode is Mode.SAFE
        column.overload |= sample.mode is Mode.OVERLOAD
    return columns


def chart_span(samples: Sequence[SiteSample], window_s: float) -> float:
    """The seconds the charts cover: the history's age, within [MIN_CHART_SPAN_S, window]."""
    age = samples[-1].at - samples[0].at if samples else 0.0
    return min(window_s, max(MIN_CHART_SPAN_S, age))


def phase_chart(samples: Sequence[SiteSample], phase: int, window_s: float) -> str:
    """One phase's last `window_s` as an SVG chart; the right edge is the newest sample, drawn
    at its own value (the table's "current now"), not its column's peak."""
    title = f"L{phase + 1}"
    opening = (
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="{title}: current and cap over the last {_duration(window_s)}">'
    )
    if not samples:
        return f'{opening}<text x="{_LEFT}" y="{_TOP + 20}">{title}: no data yet</text></svg>'
    newest = samples[-1]
    start = newest.at - window_s
    ordered = sorted(_columns(samples, phase, start, window_s).items())
    peak = max(max(c.measured or 0.0, c.planned, c.cap) for _, c in ordered)
    top = _nice_ceiling(peak * 1.1)
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    right = _LEFT + plot_w

    def x(index: int) -> float:
        return _LEFT + (index + 0.5) / CHART_COLUMNS * plot_w

    def y(amps: float) -> float:
        return _TOP + plot_h * (1 - amps / top)

    parts = [opening, _hatch_pattern(f"-{phase}")]
    width = plot_w / CHART_COLUMNS
    for index, column in ordered:
        for shown, name, fill in (
            (column.meter_lost, "meter-lost", f'fill="{METER_LOST_SHADE}"'),
            (column.overload, "overload", f'fill="url(#{_HATCH_ID}-{phase})"'),
        ):
            if shown:
                parts.append(
                    f'<rect class="shade-{name}" x="{x(index) - width / 2:.1f}" y="{_TOP}" '
                    f'width="{width + 0.3:.1f}" height="{plot_h}" {fill} '
                    'shape-rendering="crispEdges"/>'
                )
    step = _nice_ceiling(top / 4)
    level = 0.0
    while level <= top:
        parts.append(
            f'<line x1="{_LEFT}" x2="{right}" y1="{y(level):.1f}" y2="{y(level):.1f}" '
            f'stroke="#e4e4e4"/><text x="{_LEFT - 5}" y="{y(level) + 5:.1f}" '
            f'text-anchor="end">{level:g} A</text>'
        )
        level += step
    now_planned = newest.planned[phase]
    series = [
        ("cap", [(x(i), y(c.cap)) for i, c in ordered] + [(right, y(newest.caps[phase]))]),
        (
            "cap-margin",
            [(x(i), y(c.cap - c.margin)) for i, c in ordered]
            + [(right, y(newest.caps[phase] - newest.margin))],
        ),
        ("planned", [(x(i), y(c.planned)) for i, c in ordered] + [(right, y(now_planned))]),
    ]
    for name, points in series:
        parts.append(_polyline(name, [points], _LINES[name]))
    measured_runs: list[list[tuple[float, float]]] = [[]]
    for index, column in ordered:
        if column.measured is None:
            measured_runs.append([])  # a gap where the meter gave nothing
        else:
            measured_runs[-1].append((x(index), y(column.measured)))
    now_text = "no reading"
    if newest.currents is not None:
        now_amps = newest.currents[phase]
        measured_runs[-1].append((right, y(now_amps)))
        parts.append(
            f'<circle class="now" cx="{right:.1f}" cy="{y(now_amps):.1f}" r="4" '
            f'fill="{MEASURED_COLOUR}"/>'
        )
        now_text = f"{now_amps:.1f} A"
    parts.append(_polyline("measured", measured_runs, _LINES["measured"]))
    parts.append(
        f'<text x="{_LEFT}" y="{_HEIGHT - 6}">-{_duration(window_s)}</text>'
        f'<text x="{right}" y="{_HEIGHT - 6}" text-anchor="end">now</text>'
        f'<text class="title" x="{_LEFT}" y="{_TOP - 10}" font-weight="bold">'
        f"{title}: {now_text} now, cap {newest.caps[phase]:g} A</text></svg>"
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
    # Named in the config, or with a backlog (gone during an outage), and not seen since.
    seen = {charger.identity for charger in chargers}
    absent = sorted((set(snapshot.expected) | set(snapshot.backlog)) - seen)
    connected = sum(1 for c in chargers if c.connected)
    parts = [
        f"<h2>Chargers ({connected} of {len(chargers) + len(absent)} connected)</h2>",
        '<div class="scroll">',
        _table_head(
            "charger", "link", "connectors", "load balancing", "vendor / model / firmware", "OCPP"
        ),
    ]
    balancer = snapshot.balancer
    for charger in chargers:
        since = _since(charger.since, snapshot.now)
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
            _row(
                escape(charger.identity),
                link,
                escape(connectors_in_words(charger.statuses)) or "–",
                _control_note(charger.identity, balancer),
                hardware or "–",
                escape(charger.version.value),
            )
        )
    for identity in absent:
        since = _since(snapshot.started_at, snapshot.now)
        link = (
            f'<span class="warn">offline since {since}</span> '
            '<span class="muted">not connected since the LC started</span>'
        )
        if identity in snapshot.backlog:
            link += "<br>" + _backlog_note(snapshot, identity)
        parts.append(_row(escape(identity), link, "–", "–", "–", "–"))
    parts.append("</table></div>")
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
        '<div class="scroll">',
        _table_head(
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
            _row(
                escape(session.identity),
                str(session.evse_id or "–"),
                _activity(session, charger, control),
                " / ".join(_amps(a) for a in session.current_a),
                _kilo(session.power_w, "kW"),
                _kilo(session.delivered_wh, "kWh"),
                _ago(snapshot.now - session.started_at),
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
    return "0 A" if control.paused is not None else _amps(control.limit_a)


def _ended_section(snapshot: StatusSnapshot) -> list[str]:
    if not snapshot.ended:
        return []
    parts = [
        "<h2>Recently ended</h2>",
        '<div class="scroll">',
        _table_head("charger", "connector", "ended", "duration", "energy", "reason", "transaction"),
    ]
    for session in reversed(snapshot.ended):
        ended_at = session.ended_at if session.ended_at is not None else snapshot.now
        parts.append(
            _row(
                escape(session.identity),
                str(session.evse_id or "–"),
                _ago(snapshot.now - ended_at),
                _duration(ended_at - session.started_at),
                _kilo(session.delivered_wh, "kWh"),
                escape(session.end_reason or "–"),
                escape(session.transaction_id),
            )
        )
    parts.append("</table></div>")
    return parts


CERTIFICATE_WARNING_DAYS = 30  # as the alert OcppLcCertificateExpiresSoon


def _certificates_section(snapshot: StatusSnapshot) -> list[str]:
    if not snapshot.certificate_expiry:
        return []
    rows = ["<h2>Certificates</h2>", '<div class="scroll">', _table_head("Use", "Expires")]
    for use, expires in sorted(snapshot.certificate_expiry.items(), key=lambda item: item[1]):
        days = (expires - snapshot.now) / 86400
        when = time.strftime("%Y-%m-%d", time.gmtime(expires))
        left = "expired" if days < 0 else f"in {days:.0f} days"
        warn = ' class="warn"' if days < CERTIFICATE_WARNING_DAYS else ""
        rows.append(f"<tr><td>{escape(use)}</td><td{warn}>{when} ({left})</td></tr>")
    return [*rows, "</table></div>"]


def _csms_certificate_section(snapshot: StatusSnapshot) -> list[str]:
    if not snapshot.csms_certificate_invalid:
        return []
    return [
        '<p class="warn">CSMS certificate invalid: the LC does not connect to the CSMS; it '
        "answers the chargers and keeps their messages until the CSMS presents a certificate "
        "it trusts.</p>"
    ]


_TRANSFER_KIND = {"firmware": "firmware update", "log": "log upload"}


def _transfers_section(snapshot: StatusSnapshot) -> list[str]:
    transfers = [
        (charger.identity, transfer)
        for charger in sorted(snapshot.chargers, key=lambda c: c.identity)
        for _, transfer in sorted(charger.transfers.items())
    ]
    if not transfers:
        return []
    parts = [
        "<h2>Firmware updates and log uploads</h2>",
        '<div class="scroll">',
        _table_head("charger", "what", "file", "state", "since", "result"),
    ]
    for identity, transfer in transfers:
        if transfer.outcome is None:
            result = "in progress"
        elif transfer.outcome in ("installed", "uploaded"):
            result = transfer.outcome
        else:
            result = f'<span class="warn">{escape(transfer.outcome.replace("_", " "))}</span>'
        location = transfer.location and location_without_credentials(transfer.location)
        parts.append(
            _row(
                escape(identity),
                _TRANSFER_KIND[transfer.kind],
                escape(location or "–"),
                escape(transfer_words(transfer.state)),
                _since(transfer.since, snapshot.now),
                result,
            )
        )
    parts.append("</table></div>")
    return parts


# -- the LC's own identity at the CSMS -----------------------------------------------------

_STATION_STATES = {
    "disconnected": ("not connected: dialling the CSMS", True),
    "booting": ("connected, waiting for the CSMS to answer its boot", False),
    "pending": ("Pending: the CSMS has not accepted it yet", True),
    "rejected": ("Rejected by the CSMS: it boots again later", True),
    "accepted": ("Accepted by the CSMS", False),
}


def _station_section(snapshot: StatusSnapshot) -> list[str]:
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
        lines.append(f" {_cap_in_words(station.cap)}")
    lines.append("</p>")
    if station.csms_settings:
        lines += [
            "<p>Settings the CSMS changed, in force until the config file changes them:</p>",
            '<div class="scroll">',
            _table_head("setting", "in force", "config file"),
        ]
        for key, (value, file_value) in sorted(station.csms_settings.items()):
            lines.append(_row(escape(key), escape(value), escape(file_value)))
        lines.append("</table></div>")
    return lines


_CAP_SOURCES = {
    CapSource.CONFIG: "the config",
    CapSource.CSMS: "the CSMS's site limit",
    CapSource.EXTERNAL: "the EMS's external limit",
}


def _cap_in_words(cap: SiteCap) -> str:
    caps = " / ".join(f"{amps:g}" for amps in cap.phase_cap_a)
    return f"The site cap is {caps} A (L1 / L2 / L3), set by {_CAP_SOURCES[cap.binding]}."


def _external_limit_section(snapshot: StatusSnapshot) -> list[str]:
    external = snapshot.external_limit
    if external is None:
        return []
    inputs = [
        f"{name}: {_amps(amps)}"
        for name, amps in (("over HTTP", external.http_a), ("over Modbus", external.modbus_a))
    ]
    return [
        "<h2>External limit (EMS)</h2>",
        f"<p>{escape('; '.join(inputs))}. {_cap_in_words(external.cap)}</p>",
    ]


def _security_section(snapshot: StatusSnapshot) -> list[str]:
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
    lines += ['<div class="scroll">', _table_head("When", "Event", "Details")]
    for event in security.recent:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event.timestamp))
        kind = (
            f'<span class="warn">{escape(event.type)}</span>'
            if event.critical
            else escape(event.type)
        )
        lines.append(_row(when, kind, escape(event.tech_info)))
    return [*lines, "</table></div>"]


SECTIONS: Sequence[Callable[[StatusSnapshot], list[str]]] = (
    _csms_certificate_section,
    _site_section,
    _station_section,
    _external_limit_section,
    _chargers_section,
    _sessions_section,
    _transfers_section,
    _ended_section,
    _certificates_section,
    _security_section,
)


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


def _since(at: float, now: float) -> str:
    """ "14:02 (12 min)": the local time of day and how long ago."""
    return f"{time.strftime('%H:%M', time.localtime(at))} ({_duration(now - at)})"
