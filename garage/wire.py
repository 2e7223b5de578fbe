"""A websocket as the ocpp package uses it (`recv`/`send` of text frames), logging every OCPP
CALL that passes: counts per action and direction, and the recent payloads as sent on the wire
(camelCase), so tests can check exactly what a peer received."""

from __future__ import annotations

import json
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

from websockets.asyncio.connection import Connection

CALL = 2
Direction = Literal["in", "out"]


@dataclass
class CallLog:
    """OCPP CALLs seen on one peer's connections (all of them, across reconnects)."""

    history: int = 1000
    """How many recent payloads are kept; counts are never dropped."""
    received: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    recent: deque[tuple[Direction, str, dict[str, Any]]] = field(init=False)

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=self.history)

    def payloads(self, action: str, direction: Direction = "in") -> list[dict[str, Any]]:
        """Recent payloads of `action` in `direction`, oldest first."""
        return [payload for d, a, payload in self.recent if (d, a) == (direction, action)]

    def note(self, direction: Direction, frame: str) -> None:
        try:
            message = json.loads(frame)
        except ValueError:
            return  # not OCPP-J; the ocpp package reports it
        if isinstance(message, list) and len(message) == 4 and message[0] == CALL:
            _, _, action, payload = message
            (self.received if direction == "in" else self.sent)[action] += 1
            self.recent.append((direction, action, payload))


class LoggedConnection:
    def __init__(self, ws: Connection, log: CallLog) -> None:
        self.ws = ws
        self.log = log

    async def recv(self) -> str:
        frame = await self.ws.recv(decode=True)
        self.log.note("in", frame)
        return frame

    async def send(self, frame: str) -> None:
        self.log.note("out", frame)
        await self.ws.send(frame)
