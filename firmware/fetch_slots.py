"""How many firmware fetches the file server runs at once: in all, so a rollout to a whole
garage cannot saturate the LC's disk and site link, and per client, so one charger (or
anything else on the site network) cannot take every slot."""

from __future__ import annotations

from collections import Counter as Tally

DEFAULT_MAX_FETCHES = 10
DEFAULT_MAX_FETCHES_PER_CLIENT = 2  # a charger resuming a broken fetch may overlap the old one
# What a refused client is told to wait (Retry-After): about a firmware image's fetch time.
RETRY_AFTER_S = 60


class FetchSlots:
    def __init__(self, total: int, per_client: int) -> None:
        self._total = total
        self._per_client = per_client
        self._taken: Tally[str] = Tally()

    @property
    def in_use(self) -> int:
        return self._taken.total()

    def take(self, client: str) -> bool:
        """Whether `client` (its address) may start a fetch now; if so, the slot is its own
        until `give_back`."""
        if self.in_use >= self._total or self._taken[client] >= self._per_client:
            return False
        self._taken[client] += 1
        return True

    def give_back(self, client: str) -> None:
        self._taken[client] -= 1
        if self._taken[client] <= 0:
            del self._taken[client]
