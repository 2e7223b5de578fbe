"""The charts of the last hour, one per phase, as inline SVG, and their legend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from balancer.allocate import Mode
from balancer.history import SiteSample
from lc.status_page import cells

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


def legend(span_s: float) -> list[str]:
    step = span_s / CHART_COLUMNS
    each = "each reading" if step < 1 else f"the highest in each {cells.duration(step)}"
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
        f'aria-label="{title}: current and cap over the last {cells.duration(window_s)}">'
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
        f'<text x="{_LEFT}" y="{_HEIGHT - 6}">-{cells.duration(window_s)}</text>'
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
