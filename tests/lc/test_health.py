"""`ocpp-lc health` asks where the config serves metrics; a wildcard is this machine."""

from __future__ import annotations

import pytest

from lc.health import check_health, metrics_url
from router.config import MetricsSettings
from tests.lc_process import free_port


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:9100/metrics"),
        ("", "http://127.0.0.1:9100/metrics"),
        ("::", "http://[::1]:9100/metrics"),
        ("192.168.1.10", "http://192.168.1.10:9100/metrics"),
        ("fd00::10", "http://[fd00::10]:9100/metrics"),
    ],
)
def test_the_url_is_where_the_config_serves_metrics(host: str, url: str) -> None:
    assert metrics_url(MetricsSettings(host, 9100)) == url


def test_nothing_listening_is_unhealthy() -> None:
    port = free_port()
    problem = check_health(MetricsSettings("127.0.0.1", port))
    assert problem is not None and problem.startswith(f"http://127.0.0.1:{port}/metrics: ")
