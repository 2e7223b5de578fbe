"""Whether the configured safe currents fit under the caps and fuses: checked at config load,
since with a stale meter every session gets its safe current at once."""

from __future__ import annotations

from collections.abc import Iterable

from balancer.fuse_tree import FuseTree
from balancer.phase_arithmetic import EPSILON, phase_totals
from balancer.site import SITE_PHASES, EvseState, PanelState, PhaseValues


def check_safe_currents_fit(
    phase_cap: PhaseValues,
    margin: float,
    evses: Iterable[EvseState],
    panels: tuple[PanelState, ...] = (),
) -> list[str]:
    """Problems that would let the safe allocation exceed cap - margin, or a panel's fuse -
    margin; empty when it fits."""
    evses = tuple(evses)
    problems = _safe_overdraw("", phase_cap, margin, evses)
    tree = FuseTree.of(panels)
    for panel in panels:
        below = tree.below(evses, panel.name)
        problems += _safe_overdraw(f"panel {panel.name} ", panel.site_fuse(), margin, below)
    return problems


def _safe_overdraw(
    where: str,
    phase_cap: PhaseValues,
    margin: float,
    evses: tuple[EvseState, ...] | list[EvseState],
) -> list[str]:
    totals = phase_totals((evse, _safe_draw(evse)) for evse in evses)
    problems = []
    for phase, total, cap in zip(SITE_PHASES, totals, phase_cap, strict=True):
        if total > cap - margin + EPSILON:
            on_phase = [evse for evse in evses if phase in evse.site_phases]
            count = sum(1 for evse in on_phase if evse.safe_current and evse.obeys)
            unlimited = sum(1 for evse in on_phase if not evse.obeys)
            beside = f" and {unlimited} uncontrollable EVSEs at their maximum" if unlimited else ""
            rating = "fuse" if where else "phase cap"
            problems.append(
                f"{where}L{phase}: safe currents of {count} EVSEs{beside} sum to {total:.1f} A, "
                f"more than the {rating} {cap:.1f} A minus margin {margin:.1f} A = "
                f"{cap - margin:.1f} A"
            )
    return problems


def _safe_draw(evse: EvseState) -> float:
    """What an EVSE may draw while the meter is stale: an EVSE the LC cannot limit, its max."""
    return evse.safe_current if evse.obeys else evse.max_current
