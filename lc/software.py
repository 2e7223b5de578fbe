"""The LC's own software for the site manager: which release runs, whether it is on trial,
the one kept for a rollback, the last update of the LC and a Reset waiting for the LC to be
idle; on the status page and in metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from firmware.releases import Releases
from firmware.self_update import OUTCOMES
from lc.station_reset import ResetAtCsms
from lc.status_page.snapshot import SoftwareStatus
from station.config import package_version


class LcSoftware:
    def __init__(self, releases: Releases | None, started_at: float) -> None:
        """`releases`: the LC's releases folder; None without a [station] (no state folder)."""
        self.releases = releases
        self._started_at = started_at
        self.reset: ResetAtCsms | None = None  # set once the Reset is wired
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "ocpp_lc_self_update",
            "Updates of the LC itself from the CSMS, by how they ended",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in OUTCOMES.values():
            self.updates.labels(outcome)
        release = Gauge(
            "ocpp_lc_release_info",
            "The LC's running release (1)",
            ["version"],
            registry=self.registry,
        )
        release.labels(package_version()).set(1)
        on_trial = Gauge(
            "ocpp_lc_release_on_trial",
            "1 while the running release is on trial: rolled back unless it reaches the CSMS",
            registry=self.registry,
        )
        on_trial.set_function(lambda: float(releases is not None and releases.trial() is not None))

    def status(self) -> SoftwareStatus:
        releases = self.releases
        if releases is None:
            return SoftwareStatus(package_version())
        trial = releases.trial()
        return SoftwareStatus(
            package_version(),
            releases.current(),
            None if trial is None else self._started_at + trial.bound_s,
            releases.kept(),
            releases.last_update(),
            self.reset is not None and self.reset.scheduled,
        )
