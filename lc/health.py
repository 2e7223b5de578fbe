"""`health --config FILE`: whether the LC of that config answers on its metrics endpoint.

For a container's HEALTHCHECK: it asks where the config says the LC listens, so changing the
port or address in the config needs no change in the image.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from router.config import MetricsSettings

TIMEOUT_S = 5.0
# A wildcard listen address is reached on this machine's loopback.
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def metrics_url(settings: MetricsSettings) -> str:
    host = _WILDCARDS.get(settings.listen_host, settings.listen_host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.listen_port}/metrics"


def check_health(settings: MetricsSettings) -> str | None:
    """None when /metrics answers 200, else what went wrong."""
    url = metrics_url(settings)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            status = int(response.status)
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {exc}"
    return None if status == 200 else f"{url}: HTTP {status}"
