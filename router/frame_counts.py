"""The per-frame metrics, counted in plain Python numbers and published at scrape time.

Every relayed frame is counted and timed. Through prometheus_client's `Counter` and
`Histogram` each of those costs a lock and a few calls; here a frame costs a dict lookup and
an integer addition, and the series are built only when `/metrics` is read. The names,
labels and meaning are those the alerts and the dashboard use (deploy/).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

# OCPP 1.6 + 2.0.1 + 2.1 have a few hundred actions; beyond this, names are made up by a peer.
_MAX_MESSAGE_SERIES = 2000

RELAY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0)
# The `le` labels, spelled as prometheus_client spells them (its Histogram used to publish these).
_RELAY_BOUNDS = (*(repr(bound) for bound in RELAY_BUCKETS), "+Inf")

MessageKey = tuple[str, str, str]  # action, direction, message type


class FrameCounts:
    """`ocpp_lc_messages` and `ocpp_lc_relay_seconds` of one router."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages: dict[MessageKey, int] = {}
        self._relay_counts = [0] * (len(RELAY_BUCKETS) + 1)  # per bucket, the last is +Inf
        self._relay_sum = 0.0
        registry.register(self)

    def count_message(self, action: str, direction: str, message_type: str) -> None:
        """Count a relayed frame; the action names a peer can make up are capped so the
        series stay bounded (an early name keeps its own series)."""
        key = (action, direction, message_type)
        messages = self.messages
        if key in messages:
            messages[key] += 1
            return
        if len(messages) >= _MAX_MESSAGE_SERIES:
            key = ("(other)", direction, message_type)
        messages[key] = messages.get(key, 0) + 1

    def observe_relay(self, seconds: float) -> None:
        """The time from receiving a frame to having written it to the other side."""
        self._relay_counts[bisect_left(RELAY_BUCKETS, seconds)] += 1
        self._relay_sum += seconds

    def collect(self) -> Iterator[Metric]:
        messages = CounterMetricFamily(
            "ocpp_lc_messages",
            "Frames relayed, by action, direction and message type",
            labels=["action", "direction", "message_type"],
        )
        for key, count in list(self.messages.items()):
            messages.add_metric(key, count)
        yield messages
        cumulative, buckets = 0, []
        for bound, count in zip(_RELAY_BOUNDS, self._relay_counts, strict=True):
            cumulative += count
            buckets.append((bound, float(cumulative)))
        relay = HistogramMetricFamily(
            "ocpp_lc_relay_seconds",
            "Time from receiving a frame to having written it to the other side",
        )
        relay.add_metric([], buckets, self._relay_sum)
        yield relay
