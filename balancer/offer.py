"""The limits the LC may send an EVSE: on the 0.1 A grid, 0 or within [min, effective max]."""

from __future__ import annotations

from balancer.site import EvseState
from ocpp_knowledge.profiles import ceil_to_tenth, floor_to_tenth


def offer_range(evse: EvseState) -> tuple[float, float]:
    """Lowest and highest limit that may be sent, on the 0.1 A grid. Empty (lowest > highest) when
    the CSMS allows less than the car's minimum."""
    effective_max = (
        evse.max_current if evse.csms_limit is None else min(evse.max_current, evse.csms_limit)
    )
    return ceil_to_tenth(evse.min_current), floor_to_tenth(effective_max)


def offer(evse: EvseState, amps: float) -> float:
    """The limit to send for a wish of `amps`: within the offer range, else 0."""
    lowest, highest = offer_range(evse)
    limit = min(floor_to_tenth(amps), highest)
    return limit if limit >= lowest else 0.0
