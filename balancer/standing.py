"""How far each charger follows the LC's profiles, as the LC learnt it: its smart-charging
capabilities, whether it is limited through its charger maximum (balancer/station_max.py), and
the EVSEs that do not obey, which are planned at their maximum."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from balancer.metrics import BalancerMetrics
from balancer.profiles import Capabilities

log = logging.getLogger(__name__)


class ChargerStanding:
    def __init__(self, metrics: BalancerMetrics) -> None:
        self._metrics = metrics
        self.capabilities: dict[str, Capabilities] = {}  # read at each charger's set-up
        # Chargers limited through their charger maximum profile, across reconnects.
        self.station_max: set[str] = set()
        self.switching: set[str] = set()  # being moved to their charger maximum
        self.disobedient: set[str] = set()  # EVSE keys

    def capabilities_of(self, identity: str) -> Capabilities:
        """The charger's capabilities, or the defaults until its set-up read them."""
        return self.capabilities.get(identity, Capabilities())

    def limited_through_station_max(self, identity: str) -> None:
        self.station_max.add(identity)
        self._metrics.station_max_chargers.set(len(self.station_max))

    def mark_disobedient(self, evses: Iterable[str]) -> None:
        """These EVSEs do not follow the LC's limits (none: only count again)."""
        self.disobedient.update(evses)
        self._metrics.not_obeying.set(len(self.disobedient))

    def refused(self, identity: str, key: str | None, evses: Iterable[str]) -> None:
        """A profile refused with no other way to limit the charger: planned at its maximum.
        `key`: the EVSE whose profile it was (None: the charger's floor); `evses`: all of the
        charger's."""
        log.warning("%s refuses the LC's profiles: planned at its maximum", key or identity)
        self.mark_disobedient(evses if key is None else (key,))

    def reconnected(self, evses: Iterable[str]) -> None:
        """A reconnect (often a reboot or a firmware update) gets a fresh start: its set-up
        flags it again if it still refuses profiles, and the meter if it overdraws."""
        self.disobedient.difference_update(evses)
        self._metrics.not_obeying.set(len(self.disobedient))
