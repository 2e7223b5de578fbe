"""One call in flight per key, and only the latest of what came meanwhile waiting for it (pure).

A dynamic limit is stale as soon as a newer one is decided: a charger slow to answer must get
the newest next, not every limit decided while it kept the LC waiting, each waiting its turn in
the router's call queue ahead of a cut."""

from __future__ import annotations

from typing import Generic, TypeVar

Item = TypeVar("Item")


class LatestWaits(Generic[Item]):
    def __init__(self) -> None:
        self._in_flight: set[str] = set()
        self._waiting: dict[str, Item] = {}

    def waits(self, key: str, item: Item) -> bool:
        """True when a call for `key` is in flight: `item` then waits in place of any older."""
        if key not in self._in_flight:
            return False
        self._waiting[key] = item
        return True

    def sending(self, key: str) -> None:
        """A call for `key` is now in flight."""
        self._in_flight.add(key)

    def ended(self, key: str) -> Item | None:
        """The call for `key` ended, whatever its outcome: the item that waited for it, if any,
        to be offered again."""
        self._in_flight.discard(key)
        return self._waiting.pop(key, None)
