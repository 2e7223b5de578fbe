"""Prometheus metrics of the load balancer, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class BalancerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.site_current = Gauge(
            "ocpp_lc_site_current_amperes", "Measured current per site phase", ["phase"], registry=r
        )
        self.cap = Gauge(
            "ocpp_lc_site_cap_amperes", "Grid cap per site phase (config)", ["phase"], registry=r
        )
        self.effective_cap = Gauge(
            "ocpp_lc_site_effective_cap_amperes",
            "Grid cap per site phase the balancer plans under: the config's, CSMS's or EMS's",
            ["phase"],
            registry=r,
        )
        self.cap_binding = Gauge(
            "ocpp_lc_site_cap_binding",
            "1 for the limit that sets the effective cap (config, CSMS or EMS), 0 for the others",
            ["limit"],
            registry=r,
        )
        self.headroom = Gauge(
            "ocpp_lc_site_headroom_amperes",
            "Cap minus margin minus planned load per site phase",
            ["phase"],
            registry=r,
        )
        self.meter_age = Gauge(
            "ocpp_lc_meter_age_seconds", "Age of the last good meter reading", registry=r
        )
        self.meter_read_errors = Counter(
            "ocpp_lc_meter_read_errors", "Meter polls that failed", registry=r
        )
        self.meter_stale = Gauge(
            "ocpp_lc_meter_stale",
            "1 while the meter reading is stale and chargers are on their safe current",
            registry=r,
        )
        self.mode = Gauge(
            "ocpp_lc_allocation_mode", "1 for the allocator's current mode", ["mode"], registry=r
        )
        self.evse_allocation = Gauge(
            "ocpp_lc_evse_limit_amperes",
            "Limit per EVSE that the charger accepted from the LC",
            ["evse"],
            registry=r,
        )
        self.evse_unlimited = Gauge(
            "ocpp_lc_evse_unlimited_planned_amperes",
            "Maximum a session the LC cannot limit (ignores profiles, not set up) is planned at",
            ["evse"],
            registry=r,
        )
        self.evse_measured = Gauge(
            "ocpp_lc_evse_measured_amperes",
            "Current per EVSE and charger phase from its meter values",
            ["evse", "phase"],
            registry=r,
        )
        self.profiles = Counter(
            "ocpp_lc_profiles",
            "Charging profiles the LC sent, by outcome (accepted, rejected, error, timeout)",
            ["outcome"],
            registry=r,
        )
        self.profile_seconds = Histogram(
            "ocpp_lc_profile_round_trip_seconds",
            "SetChargingProfile round trip to the charger",
            registry=r,
        )
        self.decision_seconds = Histogram(
            "ocpp_lc_decision_seconds",
            "From a meter sample to every resulting profile dispatched",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=r,
        )
        self.seconds_above_cap = Counter(
            "ocpp_lc_seconds_above_cap",
            "Time any site phase was measured above its cap",
            registry=r,
        )
        self.not_obeying = Gauge(
            "ocpp_lc_evses_not_obeying",
            "EVSEs planned at their maximum because they ignore or refuse the LC's limits",
            registry=r,
        )
        self.last_step = Gauge(
            "ocpp_lc_balancer_last_step_timestamp_seconds",
            "Unix time of the balancer's last successful control step",
            registry=r,
        )
        self.station_max_chargers = Gauge(
            "ocpp_lc_station_max_chargers",
            "Chargers refusing Tx profiles, limited through their charger maximum profile",
            registry=r,
        )
        self.panel_current = Gauge(
            "ocpp_lc_panel_current_amperes",
            "Current per distribution panel and panel phase: its sub-meter's reading, without "
            "one what the chargers below it report",
            ["panel", "phase"],
            registry=r,
        )
        self.panel_fuse = Gauge(
            "ocpp_lc_panel_fuse_amperes",
            "Fuse rating per distribution panel and panel phase (config)",
            ["panel", "phase"],
            registry=r,
        )
        self.panel_headroom = Gauge(
            "ocpp_lc_panel_headroom_amperes",
            "Fuse minus margin minus the panel's base load: what the EVSEs below it may draw",
            ["panel", "phase"],
            registry=r,
        )
        self.seconds_above_fuse = Counter(
            "ocpp_lc_panel_seconds_above_fuse",
            "Time any phase of a distribution panel was measured above its fuse",
            ["panel"],
            registry=r,
        )
