"""The base load: the current per phase that is not the managed EVSEs', at the grid connection
and at each distribution panel, with the rule that a car on its way to a raised limit is not
counted as base load."""

from __future__ import annotations

import math
from collections.abc import Iterable

from balancer.fuse_tree import FuseTree
from balancer.phase_arithmetic import per_phase
from balancer.site import SITE_PHASES, EvseState, PhaseValues, SessionState, SiteState


def panel_base_loads(
    state: SiteState, tree: FuseTree, unmetered: set[str]
) -> dict[str, PhaseValues]:
    """The base load per panel and site phase.

    The base load is what a panel's sub-meter sees beyond its EVSEs. A panel without a (fresh)
    sub-meter carries the base loads its sub-metered panels below measured, nothing of its own.
    """
    before = {} if state.base_load_before is None else state.base_load_before.panels
    base: dict[str, PhaseValues] = {}
    for panel in reversed(tree.panels):  # children before their parents
        currents = panel.site_currents()
        if currents is not None and panel.name not in unmetered:
            room = per_phase(fuse - state.margin for fuse in panel.site_fuse())
            below = tree.below(state.evses, panel.name)
            base[panel.name] = base_load(below, currents, before.get(panel.name), room)
        else:
            children = [base[child.name] for child in tree.panels if child.parent == panel.name]
            base[panel.name] = per_phase(
                map(math.fsum, zip(*children, (0.0, 0.0, 0.0), strict=True))
            )
    return base


def base_load(
    evses: Iterable[EvseState],
    currents: PhaseValues,
    before: PhaseValues | None,
    room: PhaseValues,
) -> PhaseValues:
    """Current per phase that is not the managed EVSEs', under a meter reading `currents`.

    A meter is read every period, a charger (or a chained LC) reports its draw every so many
    seconds: while a car follows a raised limit, a fresh reading minus an older report counts
    the car's new current as base load, and the decision cuts the others (a whole sub-board,
    behind a chained LC) for the seconds until the next report. So a rise over the previous
    decision's base load (`before`) is put down to the cars measured before they could follow
    their limit, as far as those limits (in force, so planned within the fuses) explain it;
    only the rest is base load.

    Why that is safe: it never makes more room than the previous decision saw (the result is at
    least the lower of the reports' base load and `before`), and the limits it counts on were
    planned within the fuses already. At worst a base load that rose at the very moment a car
    was raised is missed until the car reached its limit (then the reading explains itself and
    the rise shows) or reported again; meanwhile the phase can go above rating - margin by no
    more than that rise, which the next reading shows. Where the meter reads above rating -
    margin (`room`), the reports are taken as they are, so a real overload is cut at once.

    Where a charger reports no current, a charging session is assumed to draw its limit in force
    and any other session nothing: those states draw ~0, and a wrong guess then only inflates the
    base load. Clamped at 0 so that generation on site never counts as headroom: it can vanish
    faster than the loop reacts.
    """
    reported: list[list[float]] = [[] for _ in SITE_PHASES]
    on_the_way: list[list[float]] = [[] for _ in SITE_PHASES]  # beyond the reports, at most
    for evse in evses:
        for charger_phase, site_phase in enumerate(evse.phase_map):
            measured = evse.measured[charger_phase]
            if measured is not None:
                reported[site_phase - 1].append(abs(measured))
                if evse.measured_before_limit and site_phase in evse.site_phases:
                    on_the_way[site_phase - 1].append(max(0.0, evse.allocated - abs(measured)))
            elif evse.session is SessionState.CHARGING and site_phase in evse.site_phases:
                reported[site_phase - 1].append(evse.allocated)
    base = []
    for phase, site in enumerate(currents):
        by_reports = max(0.0, abs(site) - math.fsum(reported[phase]))
        if before is None or abs(site) > room[phase]:
            base.append(by_reports)
            continue
        at_least = max(0.0, by_reports - math.fsum(on_the_way[phase]))
        base.append(min(by_reports, max(at_least, before[phase])))
    return per_phase(base)
