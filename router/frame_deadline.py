"""How long a charger's frame may take to arrive (pure: the time is an argument).

A charger that declares a large frame and sends it a byte at a time would otherwise keep its
link, and a buffer, for as long as it likes. A frame whose first bytes arrived must be complete
within `limit_s`. Only time the LC spends waiting for that frame counts: while it does not read
the charger (its frame budget, or other work) the charger cannot finish, so the clock restarts
when the LC waits again. Bytes that arrived in the same read as the end of the frame before are
counted from the next bytes that arrive.
"""

from __future__ import annotations


class FrameDeadline:
    def __init__(self, limit_s: float) -> None:
        if limit_s <= 0:
            raise ValueError(f"limit {limit_s} must be positive")
        self.limit_s = limit_s
        self._started: float | None = None  # when bytes of an unfinished frame arrived first
        self._waiting = False  # the LC is waiting for the charger's next frame

    def bytes_arrived(self, now: float) -> bool:
        """Bytes from the charger; True when they begin a frame (a deadline to watch)."""
        if self._started is not None:
            return False
        self._started = now
        return True

    def waiting(self, now: float) -> None:
        """The LC waits for the charger's next frame from now on."""
        self._waiting = True
        if self._started is not None:
            self._started = max(self._started, now)

    def frame_read(self) -> None:
        """A whole frame was read: the LC works on it and no frame has begun."""
        self._waiting = False
        self._started = None

    def frame_taken(self) -> None:
        """A whole frame was read and handled while the LC waits for the next: `frame_read`
        then `waiting`, in one step (no frame has begun, so no deadline)."""
        self._started = None

    def stop(self) -> None:
        """The link is closing: what still arrives (its close frame, say) has no deadline."""
        self.frame_read()

    def deadline(self) -> float | None:
        """When the frame being waited for must be complete; None when none is."""
        if self._started is None or not self._waiting:
            return None
        return self._started + self.limit_s

    def expired(self, now: float) -> bool:
        deadline = self.deadline()
        return deadline is not None and now >= deadline
