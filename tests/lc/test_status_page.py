"""The status page's rendering: charts from the control loop's history, escaped charger texts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from balancer.allocate import Mode
from balancer.history import SiteSample
from lc.site_view import ChargerView, SessionView
from lc.status_page import (
    MIN_CHART_SPAN_S,
    BalancerStatus,
    EvseControl,
    StatusSnapshot,
    chart_span,
    phase_chart,
    render,
)
from router.frames import OcppVersion

CAPS = (63.0, 63.0, 40.0)


def _sample(at: float, amps: float | None, mode: Mode = Mode.NORMAL) -> SiteSample:
    currents = None if amps is None else (amps, amps, amps)
    return SiteSample(at, currents, CAPS, 2.0, (12.0, 12.0, 12.0), mode)


def _points(polyline: ET.Element) -> list[tuple[float, float]]:
    return [
        (float(x), float(y))
        for x, y in (pair.split(",") for pair in polyline.attrib["points"].split())
    ]


def _chart(samples: list[SiteSample], phase: int = 0) -> ET.Element:
    return ET.fromstring(phase_chart(samples, phase, chart_span(samples, 3600)))


def test_measured_current_is_drawn_with_a_gap_and_a_shade_where_the_meter_was_lost() -> None:
    samples = [_sample(float(t), 20.0) for t in range(0, 200, 5)]
    samples += [_sample(float(t), None, Mode.SAFE) for t in range(200, 300, 5)]
    samples += [_sample(float(t), 30.0) for t in range(300, 600, 5)]
    chart = _chart(samples)

    measured = chart.findall("polyline[@class='measured']")
    assert len(measured) == 2  # before and after the meter was lost
    before, after = (_points(line) for line in measured)
    assert {y for _, y in before} == {before[0][1]}  # 20 A all along
    assert {y for _, y in after} == {after[0][1]}
    assert after[0][1] < before[0][1]  # 30 A is drawn higher than 20 A
    assert before[-1][0] < after[0][0]
    [cap] = chart.findall("polyline[@class='cap']")
    [cap_margin] = chart.findall("polyline[@class='cap-margin']")
    assert _points(cap)[0][1] < _points(cap_margin)[0][1] < after[0][1]
    shades = chart.findall("rect[@class='mode-safe']")
    assert shades
    assert before[-1][0] < min(float(r.attrib["x"]) for r in shades)
    assert max(float(r.attrib["x"]) for r in shades) < after[0][0]


def test_each_phase_has_its_own_cap_and_columns_keep_the_peak() -> None:
    samples = [_sample(float(t), 10.0) for t in range(0, 600, 2)]
    spike = SiteSample(301.0, (35.0, 10.0, 10.0), CAPS, 2.0, (12.0, 12.0, 12.0), Mode.NORMAL)
    samples.insert(151, spike)
    l1, l3 = _chart(samples, 0), _chart(samples, 2)
    l1_points = _points(l1.find("polyline[@class='measured']"))
    assert len({y for _, y in l1_points}) == 2  # the one-sample spike survives its column
    assert l1.find("text") is not None
    cap_l1 = _points(l1.find("polyline[@class='cap']"))[0][1]
    cap_l3 = _points(l3.find("polyline[@class='cap']"))[0][1]
    assert cap_l1 != cap_l3  # 63 A and 40 A on charts scaled to their own phase


def test_a_young_history_spans_a_few_minutes_and_an_old_one_the_window() -> None:
    assert chart_span([_sample(0.0, 1.0), _sample(30.0, 1.0)], 3600) == MIN_CHART_SPAN_S
    assert chart_span([_sample(0.0, 1.0), _sample(2000.0, 1.0)], 3600) == 2000.0
    assert chart_span([_sample(0.0, 1.0), _sample(9000.0, 1.0)], 3600) == 3600.0
    assert "no data yet" in phase_chart([], 0, MIN_CHART_SPAN_S)


def test_texts_from_chargers_are_escaped() -> None:
    charger = ChargerView("<script>x()</script>", OcppVersion.V16, False, 0.0)
    charger.vendor = '"><img src=y>'
    charger.disconnect_reason = "<b>gone</b>"
    charger.statuses[(1, None)] = "<i>Faulted</i>"
    charger.sessions["<tx>"] = SessionView(charger.identity, "<tx>", 1, 0.0)
    page = render(StatusSnapshot(10.0, [charger], [], None))
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert "<i>" not in page and "<tx>" not in page
    assert "&lt;script&gt;x()&lt;/script&gt;" in page


def test_a_routing_only_lc_shows_its_chargers_and_sessions_without_a_grid_section() -> None:
    charger = ChargerView("CP7", OcppVersion.V201, True, 40.0)
    charger.sessions["t1"] = SessionView("CP7", "t1", 1, 50.0, 1000.0, 3500.0, 7200.0)
    ended = SessionView("CP7", "t0", 1, 0.0, 0.0, 12000.0, ended_at=30.0, end_reason="Local")
    page = render(StatusSnapshot(100.0, [charger], [ended], None))
    assert "Grid connection" not in page and "<svg" not in page
    assert "Chargers (1 of 1 connected)" in page
    assert "connected 1 min ago" in page
    assert "2.50 kWh" in page and "7.20 kW" in page  # the ongoing session
    assert "12.00 kWh" in page and "Local" in page  # the ended one


def test_limits_pauses_and_disobedience_are_shown_per_session() -> None:
    chargers = []
    for identity in ("CP1", "CP2", "CP3"):
        charger = ChargerView(identity, OcppVersion.V16, True, 0.0)
        charger.sessions["t"] = SessionView(identity, f"t-{identity}", 1, 0.0)
        chargers.append(charger)
    status = BalancerStatus(
        mode=Mode.OVERLOAD,
        caps=CAPS,
        margin=2.0,
        measured=(70.0, 20.0, 20.0),
        history=[_sample(0.0, 70.0, Mode.OVERLOAD)],
        window_s=3600,
        evses={
            "CP1/1": EvseControl(13.5, None, True),
            "CP2/1": EvseControl(0.0, "no_capacity", True),
            "CP3/1": EvseControl(6.0, None, False),
        },
        station_max=frozenset({"CP1"}),
    )
    page = render(StatusSnapshot(10.0, chargers, [], status))
    assert "13.5 A" in page and "paused (no capacity)" in page
    assert "ignores its limit" in page and "through its charger maximum" in page
    assert '<span class="warn">overload</span>' in page
    assert '<td class="warn">70.0 A</td>' in page  # L1 above its cap
    assert page.count("<svg") == 3


def test_a_csms_outage_and_the_journal_backlog_are_shown_per_charger() -> None:
    offline = ChargerView("CP1", OcppVersion.V16, True, 0.0)
    offline.csms_connected = False
    online = ChargerView("CP2", OcppVersion.V16, True, 0.0)
    page = render(StatusSnapshot(600.0, [offline, online], [], None, {"CP1": (3, 480.0)}))
    assert page.count("CSMS unreachable") == 1
    assert "3 messages waiting for the CSMS (oldest 2 min ago)" in page


def test_a_backlog_that_waits_for_its_charger_is_shown_even_for_a_charger_not_seen() -> None:
    online = ChargerView("CP2", OcppVersion.V16, True, 0.0)
    backlog = {"CP2": (1, 590.0), "CP9": (2, 0.0)}
    page = render(StatusSnapshot(600.0, [online], [], None, backlog, frozenset({"CP9"})))
    assert "CP9 (not connected): 2 messages waiting for the CSMS (oldest 10 min ago)" in page
    assert page.count("wait for this charger to reconnect") == 1
