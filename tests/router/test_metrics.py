"""Router metrics that need more than a scrape to check."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from router.frame_counts import RELAY_BUCKETS
from router.metrics import RouterMetrics


def test_made_up_action_names_do_not_grow_the_series_without_bound() -> None:
    metrics = RouterMetrics()
    for n in range(2500):
        metrics.frames.count_message(f"Made{n}", "to_csms", "CALL")
    metrics.frames.count_message("Made1", "to_csms", "CALL")  # an early name keeps its own series
    [family] = [f for f in metrics.registry.collect() if f.name == "ocpp_lc_messages"]
    totals = {
        sample.labels["action"]: sample.value
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert len(totals) == 2001
    assert totals["(other)"] == 500
    assert totals["Made1"] == 2


def _exposition(registry: CollectorRegistry, name: str) -> list[str]:
    text = generate_latest(registry).decode()
    return [
        line for line in text.splitlines() if line.startswith(name + "_") and "created" not in line
    ]


def test_relay_times_are_published_as_the_histogram_prometheus_client_would_publish() -> None:
    metrics = RouterMetrics()
    reference_registry = CollectorRegistry()
    reference = Histogram(
        "ocpp_lc_relay_seconds", "reference", buckets=RELAY_BUCKETS, registry=reference_registry
    )
    # On a bucket's bound, between bounds, beyond the last one.
    for seconds in (0.00005, 0.00007, 0.0001, 0.003, 0.5, 1.0, 7.0):
        metrics.frames.observe_relay(seconds)
        reference.observe(seconds)
    ours = _exposition(metrics.registry, "ocpp_lc_relay_seconds")
    assert ours == _exposition(reference_registry, "ocpp_lc_relay_seconds")
    assert 'ocpp_lc_relay_seconds_bucket{le="+Inf"} 7.0' in ours
