"""What the balancer's parts share (control loop, set-up, limit dispatch, profile calls)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from balancer.config import BalancerConfig
from balancer.model import SiteModel
from balancer.standing import ChargerStanding


@dataclass(frozen=True, slots=True)
class BalancerState:
    model: SiteModel  # the site as the router's events tell it
    standing: ChargerStanding  # what the LC learnt of each charger's obedience
    config: Callable[[], BalancerConfig]  # the config in force: a reload replaces it
    clock: Callable[[], float]
