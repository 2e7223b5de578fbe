"""When a charger may be set up (its capabilities read, its floor installed): a pure state
machine per charger, fed with what the router observed and the time.

Real chargers drop calls until their BootNotification is accepted, so set-up waits for the
CSMS's answer to it (Accepted, or Pending: the CSMS may then configure the charger), or for any
other call from a charger that reconnects without booting (its boot was accepted before). A
Rejected boot waits for the next boot. A set-up that got no answer is tried again after
`retry_s`; a reconnect starts over, and so does a charger whose floor the CSMS removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

_BOOT_ADMITS = ("Accepted", "Pending")


class Stage(Enum):
    WAITING = "waiting for the charger's boot or first call"
    REJECTED = "boot rejected by the CSMS"
    READY = "ready to be set up"
    RUNNING = "being set up"
    DONE = "set up"


@dataclass(slots=True)
class _Charger:
    generation: int
    stage: Stage = Stage.WAITING
    retry_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Attempt:
    """One set-up to run; `finished` takes it back so a stale attempt (the charger reconnected
    meanwhile) changes nothing."""

    identity: str
    generation: int


class SetUps:
    def __init__(self, retry_s: float) -> None:
        self.retry_s = retry_s
        self._chargers: dict[str, _Charger] = {}
        self._generations = 0

    def stage(self, identity: str) -> Stage | None:
        charger = self._chargers.get(identity)
        return None if charger is None else charger.stage

    def connected(self, identity: str) -> None:
        self._generations += 1
        self._chargers[identity] = _Charger(self._generations)

    def disconnected(self, identity: str) -> None:
        self._chargers.pop(identity, None)

    def booted(self, identity: str, status: str) -> None:
        charger = self._chargers.get(identity)
        if charger is None or charger.stage in (Stage.RUNNING, Stage.DONE):
            return
        charger.stage = Stage.READY if status in _BOOT_ADMITS else Stage.REJECTED

    def called(self, identity: str) -> None:
        """Any other call from the charger: it talks, so it was booted before."""
        charger = self._chargers.get(identity)
        if charger is not None and charger.stage is Stage.WAITING:
            charger.stage = Stage.READY

    def redo(self, identity: str) -> None:
        """Set a charger up again at once (its floor was removed)."""
        charger = self._chargers.get(identity)
        if charger is not None and charger.stage is Stage.DONE:
            charger.stage, charger.retry_at = Stage.READY, 0.0

    def due(self, now: float) -> list[Attempt]:
        """The set-ups to start now; each is RUNNING until `finished`."""
        attempts = []
        for identity, charger in self._chargers.items():
            if charger.stage is Stage.READY and charger.retry_at <= now:
                charger.stage = Stage.RUNNING
                attempts.append(Attempt(identity, charger.generation))
        return attempts

    def finished(self, attempt: Attempt, done: bool, now: float) -> None:
        charger = self._chargers.get(attempt.identity)
        if charger is None or charger.generation != attempt.generation:
            return
        if done:
            charger.stage = Stage.DONE
        else:
            charger.stage, charger.retry_at = Stage.READY, now + self.retry_s
