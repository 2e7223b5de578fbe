"""Router metrics that need more than a scrape to check."""

from __future__ import annotations

from router.metrics import RouterMetrics


def test_made_up_action_names_do_not_grow_the_series_without_bound() -> None:
    metrics = RouterMetrics()
    for n in range(2500):
        metrics.count_message(f"Made{n}", "to_csms", "CALL")
    metrics.count_message("Made1", "to_csms", "CALL")  # an early name keeps its own series
    [family] = metrics.messages.collect()
    totals = {
        sample.labels["action"]: sample.value
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert len(totals) == 2001
    assert totals["(other)"] == 500
    assert totals["Made1"] == 2
