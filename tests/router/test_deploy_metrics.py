"""The alert rules and the dashboard in deploy/ name only metrics the LC exports.

A misspelt metric in a Prometheus rule never fires and a dashboard panel stays empty, without
any error anywhere: this is the only place that notices.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from balancer.metrics import BalancerMetrics
from certificates.expiry import CertificateExpiry
from router.metrics import RouterMetrics
from station.security_events import SecurityEventMetrics
from supervision.loop_lag import REGISTRY as LOOP_LAG_REGISTRY
from supervision.tasks import REGISTRY as TASK_REGISTRY

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# The suffixes Prometheus puts on a family's samples.
SAMPLE_SUFFIXES = ("", "_total", "_created", "_bucket", "_sum", "_count")


def exported_names() -> set[str]:
    names: set[str] = set()
    certificates = CollectorRegistry()
    certificates.register(CertificateExpiry())
    security = CollectorRegistry()
    SecurityEventMetrics(security)
    for registry in (
        RouterMetrics().registry,
        BalancerMetrics().registry,
        TASK_REGISTRY,
        LOOP_LAG_REGISTRY,
        certificates,
        security,
    ):
        for family in registry.collect():
            names |= {family.name + suffix for suffix in SAMPLE_SUFFIXES}
    return names


@pytest.mark.parametrize("file", ["ocpp-lc-alerts.yml", "grafana-dashboard.json"])
def test_every_metric_named_in_deploy_is_exported(file: str) -> None:
    named = set(re.findall(r"\bocpp_lc_[a-z0-9_]+", (DEPLOY / file).read_text()))
    assert named, f"{file} names no ocpp_lc_ metric"
    assert named - exported_names() == set()
