"""The grid connection: the mode, each phase's current against the cap, the panels and the
charts."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from balancer.allocate import Mode
from balancer.panels import PanelLoad
from balancer.site_cap import CapSource, SiteCap
from lc.status_page import cells
from lc.status_page.chart import chart_span, legend, phase_chart
from lc.status_page.snapshot import BalancerStatus, StatusSnapshot


def site_section(snapshot: StatusSnapshot) -> list[str]:
    status = snapshot.balancer
    if status is None:
        return []
    mode, warn = mode_words(status)
    parts = [
        "<h2>Grid connection</h2>",
        f'<p>Mode: <span class="mode{" warn" if warn else ""}">{escape(mode)}</span>'
        f" &middot; safety margin {status.margin:g} A</p>",
        '<div class="scroll">',
        cells.table_head("phase", "current now", "cap", "use"),
    ]
    for phase, cap in enumerate(status.caps):
        measured = None if status.measured is None else status.measured[phase]
        use = "–" if measured is None else f"{measured / cap * 100:.0f} %"
        above = ' class="warn"' if measured is not None and measured > cap else ""
        parts.append(
            f"<tr><td>L{phase + 1}</td><td{above}>{cells.amps(measured)}</td>"
            f"<td>{cap:g} A</td><td>{use}</td></tr>"
        )
    parts.append("</table></div>")
    parts += _panels_table(status.panels)
    span = chart_span(status.history, status.window_s)
    parts.append('<div class="charts">')
    parts += [phase_chart(status.history, phase, span) for phase in range(3)]
    parts.append("</div>")
    parts += legend(span)
    return parts


def _panels_table(panels: Sequence[PanelLoad]) -> list[str]:
    """Per distribution panel and phase: current now against its fuse."""
    if not panels:
        return []
    parts = [
        '<div class="scroll">',
        cells.table_head("panel", "fed from", "L1", "L2", "L3", "current from"),
    ]
    for panel in panels:
        phase_cells = []
        for phase, fuse in enumerate(panel.fuse):
            current = None if panel.current is None else panel.current[phase]
            above = current is not None and current > fuse
            text = f"{cells.amps(current)} of {fuse:g} A"
            phase_cells.append(f'<span class="warn">{text}</span>' if above else text)
        if not panel.metered:
            source = "its chargers"
        elif panel.current is None:
            source = '<span class="warn">sub-meter stale: safe currents</span>'
        else:
            source = "its sub-meter"
        parent = "grid connection" if panel.parent is None else escape(panel.parent)
        parts.append(cells.row(escape(panel.name), parent, *phase_cells, source))
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


_CAP_SOURCES = {
    CapSource.CONFIG: "the config",
    CapSource.CSMS: "the CSMS's site limit",
    CapSource.EXTERNAL: "the EMS's external limit",
}


def cap_in_words(cap: SiteCap) -> str:
    caps = " / ".join(f"{amps:g}" for amps in cap.phase_cap_a)
    return f"The site cap is {caps} A (L1 / L2 / L3), set by {_CAP_SOURCES[cap.binding]}."
