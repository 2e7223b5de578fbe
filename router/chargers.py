"""The router as the LC's other parts use it: the events it observes, and calls of the LC's own
to a charger, with the ways such a call fails.

The balancer depends on this seam, not on the server and links behind it; `router.server.Router`
is the production implementation, and a test can stand in with a plain class of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from router import events as ev


class ChargerCallFailed(Exception):
    """An LC call that got no CALLRESULT."""


class ChargerNotConnected(ChargerCallFailed):
    """No charger of that identity is connected."""


class ChargerCallTimeout(ChargerCallFailed):
    """The charger did not answer in time (or its link closed first)."""


class ChargerCallRejected(ChargerCallFailed):
    """The charger answered with a CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class Chargers(Protocol):
    def subscribe(self, callback: Callable[[ev.Event], None], /) -> None:
        """Call `callback` with every observation event, in the order observed."""

    async def call(
        self, identity: str, action: str, payload: dict[str, Any], timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Send the LC's own CALL to a charger and return its CALLRESULT payload; its answer
        never reaches the CSMS (Part 4 §6.4). Raises a ChargerCallFailed, or ValueError for a
        payload that does not match the action's schema."""
