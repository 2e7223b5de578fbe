"""Prometheus metrics of the router, in a registry of its own (one per router instance)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from router.charger_gauge import ChargerGauge, exposition
from router.frame_counts import FrameCounts


class RouterMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.chargers_connected = Gauge(
            "ocpp_lc_chargers_connected",
            "Chargers connected, by OCPP version",
            ["version"],
            registry=r,
        )
        # Counted for every frame: plain numbers, published at scrape time.
        self.frames = FrameCounts(r)
        self.call_errors = Counter(
            "ocpp_lc_call_errors",
            "CALLERRORs relayed or sent by the LC, by code and direction",
            ["code", "direction"],
            registry=r,
        )
        self.invalid_messages = Counter(
            "ocpp_lc_invalid_messages",
            "Frames that broke OCPP-J or their schema, by kind; rejected=true were not relayed",
            ["direction", "kind", "rejected"],
            registry=r,
        )
        self.upstream_connect_failures = Counter(
            "ocpp_lc_upstream_connect_failures",
            "CSMS connections that failed, by reason",
            ["reason"],
            registry=r,
        )
        self.connections = Counter(
            "ocpp_lc_charger_connections", "Charger connections accepted", registry=r
        )
        self.connections_refused = Counter(
            "ocpp_lc_charger_connections_refused",
            "Charger connections refused because max_chargers were connected",
            registry=r,
        )
        self.charger_refusals = Counter(
            "ocpp_lc_charger_refusals",
            "Charger connections the LC refused before the CSMS is dialled, by reason: identity"
            " checks (not_allowed, basic_auth_user, certificate_cn, certificate_o, bad_identity,"
            " bad_path),"
            " admission limits (source_rate, handshakes_in_progress, csms_dials, max_chargers,"
            " max_connections, handshake_timeout), TLS handshakes that failed or did not finish"
            " in time (tls_handshake), not_websocket, stopping",
            ["reason"],
            registry=r,
        )
        self.throttled_seconds = Counter(
            "ocpp_lc_charger_throttled_seconds",
            "Time the LC stopped reading chargers that sent more than max_frames_per_s",
            registry=r,
        )
        self.frame_timeouts = Counter(
            "ocpp_lc_charger_frame_timeouts",
            "Charger links closed (1008) because a frame that had begun was not complete within"
            " frame_timeout_s",
            registry=r,
        )
        self.lc_calls = Counter(
            "ocpp_lc_own_calls",
            "Calls the LC itself sent to chargers, by action and outcome",
            ["action", "outcome"],
            registry=r,
        )
        self.charger_transfers = Counter(
            "ocpp_lc_charger_transfers",
            "Chargers' firmware updates and log uploads that ended, by kind (firmware, log)"
            " and outcome (installed, uploaded, refused, download_failed, ...)",
            ["kind", "outcome"],
            registry=r,
        )
        self.late_replies_dropped = Counter(
            "ocpp_lc_late_replies_dropped",
            "Answers to LC calls that arrived after the call timed out",
            registry=r,
        )
        self.binary_frames_dropped = Counter(
            "ocpp_lc_binary_frames_dropped",
            "Binary WebSocket frames dropped (OCPP-J is text only), by direction",
            ["direction"],
            registry=r,
        )
        self._queue_depths = QueueDepths(r)

        self.csms_certificate_invalid = Gauge(
            "ocpp_lc_csms_certificate_invalid",
            "1 while the CSMS's certificate failed verification at the LC's last TLS handshake"
            " with it (security event InvalidCsmsCertificate)",
            registry=r,
        )
        # Per charger: kept rendered, so that a scrape stays cheap with thousands connected.
        self.upstream_connected = ChargerGauge(
            "ocpp_lc_upstream_connected",
            "1 while a charger's CSMS link is up (under hold it may be down with the charger on)",
            r,
        )
        self.answered_locally = Counter(
            "ocpp_lc_answered_locally",
            "Charger requests the LC answered itself while the CSMS was unreachable, by action",
            ["action"],
            registry=r,
        )
        self.replayed = Counter(
            "ocpp_lc_replayed",
            "Journaled requests and statuses delivered to the CSMS after an outage, by action",
            ["action"],
            registry=r,
        )
        self.id_remaps = Counter(
            "ocpp_lc_transaction_id_remaps",
            "1.6 frames whose provisional transaction id was rewritten, by direction",
            ["direction"],
            registry=r,
        )
        self.refused_transactions = Counter(
            "ocpp_lc_refused_transactions",
            "Replayed transactions whose id the CSMS refused, by what the LC asked the charger"
            " (stop the transaction or suspend its energy delivery) and the charger's answer",
            ["action", "outcome"],
            registry=r,
        )
        self.journal_backlog = Gauge(
            "ocpp_lc_journal_backlog_messages",
            "Requests journaled but not delivered yet",
            registry=r,
        )
        self.journal_oldest_age = Gauge(
            "ocpp_lc_journal_oldest_age_seconds",
            "Age of the oldest undelivered journaled request",
            registry=r,
        )

        self.journal_meter_values_dropped = Counter(
            "ocpp_lc_journal_meter_values_dropped",
            "Periodic meter values dropped from the journal at its bounds (bytes or age)",
            registry=r,
        )
        self.journal_refused = Counter(
            "ocpp_lc_journal_refused",
            "Journal writes that failed, by reason (limit: its bounds; disk_full): a request"
            " (the charger got a CALLERROR and keeps it) or the bookkeeping of the hold",
            ["reason"],
            registry=r,
        )
        self.absent_charger_backlog_age = Gauge(
            "ocpp_lc_journal_absent_charger_oldest_age_seconds",
            "Per charger that is not connected: age of its oldest undelivered journaled request",
            ["charger"],
            registry=r,
        )
        self.backlog_waits_for_charger = ChargerGauge(
            "ocpp_lc_journal_waits_for_charger",
            "1 per charger that is not connected and whose backlog only it can deliver (its"
            " credentials are not kept: keep_credentials)",
            r,
        )

    def watch_queue_depths(self, depths: Callable[[], list[int]]) -> None:
        self._queue_depths.depths = depths


class QueueDepths:
    """`ocpp_lc_call_queue_depth`: the total and the largest of the chargers' call queues,
    from one pass over the links per scrape (there may be thousands)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.depths: Callable[[], list[int]] | None = None
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "ocpp_lc_call_queue_depth",
            "Calls waiting to be sent to chargers (one outstanding CALL per direction)",
            labels=["stat"],
        )
        if self.depths is not None:
            depths = self.depths()
            family.add_metric(["total"], float(sum(depths)))
            family.add_metric(["max"], float(max(depths, default=0)))
        yield family


def metrics_app(registries: list[CollectorRegistry]) -> web.Application:
    """An aiohttp application serving `/metrics` for all given registries."""

    async def handle(_request: web.Request) -> web.Response:
        body = exposition(registries)
        response = web.Response(body=body)
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    app = web.Application()
    app.router.add_get("/metrics", handle)
    return app
