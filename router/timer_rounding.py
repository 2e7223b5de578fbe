"""aiohttp's rounding of timeouts, turned off for the LC's sockets.

aiohttp rounds every timeout longer than its `timeout_ceil_threshold` (5 s by default) up to the
next whole second, so that timers share turns of the event loop. For a hop holding thousands of
WebSockets that is the wrong trade: each socket's heartbeat (`ping_interval_s`, and the wait for
its pong) falls on a whole second, so every ping due within a second is sent in one turn.
Measured with 9,000 chargers (18,000 sockets, pings every 30 s): the loop stalled for 25-73 ms
once a second while their pings were due, and every charger's frames waited meanwhile. Given as
the threshold, NO_ROUNDING is above every timeout: each fires at its own moment, spread as the
sockets' traffic is.
"""

from __future__ import annotations

import math

NO_ROUNDING = math.inf
