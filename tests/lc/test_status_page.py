"""The status page's rendering: charts from the control loop's history, escaped charger texts."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from dataclasses import replace

from balancer.allocate import Mode
from balancer.history import SiteSample
from balancer.panels import PanelLoad
from firmware.self_update import UpdateRecord
from lc.site_view import ChargerView, SessionView
from lc.status_page import render
from lc.status_page.chart import MIN_CHART_SPAN_S, chart_span, phase_chart
from lc.status_page.snapshot import BalancerStatus, EvseControl, SoftwareStatus, StatusSnapshot
from router.frames import OcppVersion

CAPS = (63.0, 63.0, 40.0)


def _sample(at: float, amps: float | None, mode: Mode = Mode.NORMAL) -> SiteSample:
    currents = None if amps is None else (amps, amps, amps)
    return SiteSample(at, currents, CAPS, 2.0, (12.0, 12.0, 12.0), mode)


def _points(polyline: ET.Element | None) -> list[tuple[float, float]]:
    assert polyline is not None
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
    shades = chart.findall("rect[@class='shade-meter-lost']")
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
    assert "Grid connection" not in page and '<svg class="chart"' not in page
    assert "Chargers (1 of 1 connected)" in page
    assert "online since " in page and " (1 min)" in page
    assert "2.50 kWh" in page and "7.20 kW" in page  # the ongoing session
    assert "12.00 kWh" in page and "Local" in page  # the ended one


def _balancing(
    mode: Mode,
    measured: tuple[float, float, float],
    evses: dict[str, EvseControl],
    station_max: set[str] | None = None,
) -> BalancerStatus:
    """The balancer's state in one period, its history that period's reading."""
    return BalancerStatus(
        mode=mode,
        caps=CAPS,
        margin=2.0,
        measured=measured,
        history=[_sample(0.0, measured[0], mode)],
        window_s=3600,
        evses=evses,
        station_max=frozenset(station_max or ()),
    )


def test_limits_pauses_and_disobedience_are_shown_per_session() -> None:
    chargers = []
    for identity in ("CP1", "CP2", "CP3"):
        charger = ChargerView(identity, OcppVersion.V16, True, 0.0)
        charger.sessions["t"] = SessionView(identity, f"t-{identity}", 1, 0.0)
        chargers.append(charger)
    evses = {
        "CP1/1": EvseControl(13.5, None, True),
        "CP2/1": EvseControl(0.0, "no_capacity", True),
        "CP3/1": EvseControl(6.0, None, False),
    }
    status = _balancing(Mode.OVERLOAD, (70.0, 20.0, 20.0), evses, station_max={"CP1"})
    page = render(StatusSnapshot(10.0, chargers, [], status))
    assert "13.5 A" in page and "<td>paused: no capacity</td>" in page
    assert "ignores its limit" in page and "through its charger maximum" in page
    assert '<span class="mode warn">overload: L1 above the cap</span>' in page
    assert '<td class="warn">70.0 A</td>' in page  # L1 above its cap
    assert page.count('<svg class="chart"') == 3


def test_a_charger_being_set_up_and_a_session_between_limits_read_what_is_true() -> None:
    """Not "ignores its limit" for a charger the LC has not set up yet, and not "charging at
    0.0 A ... its fair share" for a session whose new limit is on its way."""
    chargers = []
    for identity in ("CP-NEW", "CP-TURN"):
        charger = ChargerView(identity, OcppVersion.V201, True, 0.0)
        session = SessionView(identity, f"t-{identity}", 1, 0.0)
        session.charging_state = "Charging"
        charger.sessions["t"] = session
        chargers.append(charger)
    evses = {
        "CP-NEW/1": EvseControl(
            None,
            None,
            False,
            reason="being set up: planned at its maximum 32 A until then",
            set_up=False,
        ),
        "CP-TURN/1": EvseControl(
            0.0, None, True, reason="waiting for its limit: the charger still has 0 A"
        ),
    }
    status = _balancing(Mode.NORMAL, (10.0, 10.0, 10.0), evses)
    page = render(StatusSnapshot(10.0, chargers, [], status))
    assert "ignores its limit" not in page
    assert "being set up: planned at its maximum</td>" in page
    assert "<td>being set up: planned at its maximum 32 A until then</td>" in page
    assert "charging at 0.0 A" not in page
    assert "<td>waiting for its limit</td><td>– / – / –</td>" in page, (
        "the car's column of the session between limits"
    )
    assert "<td>waiting for its limit: the charger still has 0 A</td>" in page


def test_a_csms_outage_and_the_journal_backlog_are_shown_per_charger() -> None:
    offline = ChargerView("CP1", OcppVersion.V16, True, 0.0)
    offline.csms_connected = False
    online = ChargerView("CP2", OcppVersion.V16, True, 0.0)
    page = render(StatusSnapshot(600.0, [offline, online], [], None, {"CP1": (3, 480.0)}))
    assert page.count("CSMS unreachable") == 1
    assert "3 messages waiting for the CSMS (oldest 2 min ago)" in page


def _site(history: list[SiteSample], mode: Mode = Mode.NORMAL) -> BalancerStatus:
    latest = history[-1].currents
    return BalancerStatus(mode, CAPS, 2.0, latest, history, 3600, {}, frozenset())


def test_an_overload_is_shaded_and_named_even_when_the_allocation_is_normal() -> None:
    samples = [_sample(float(t), 40.0) for t in range(0, 300, 5)]
    samples += [_sample(float(t), 70.0) for t in range(300, 330, 5)]  # above the 63 A cap
    samples += [_sample(float(t), 41.0) for t in range(330, 600, 5)]
    chart = _chart(samples)
    shades = chart.findall("rect[@class='shade-overload']")
    assert shades and all(r.attrib["fill"] == "url(#overload-hatch-0)" for r in shades)
    peak = min(y for _, y in _points(chart.find("polyline[@class='measured']")))
    overload_x = [x for x, y in _points(chart.find("polyline[@class='measured']")) if y == peak]
    assert min(float(r.attrib["x"]) for r in shades) <= min(overload_x)
    assert max(float(r.attrib["x"]) + float(r.attrib["width"]) for r in shades) >= max(overload_x)
    # L3's cap is 40 A: 41 A is above it, so the page says overload while the allocation's
    # mode is still normal (the cut is on its way).
    page = render(StatusSnapshot(10.0, [], [], _site(samples)))
    assert '<span class="mode warn">overload: L3 above the cap</span>' in page
    assert "above the cap: overload" in page  # the legend names the shade


def test_the_newest_point_is_the_newest_reading_not_its_columns_peak() -> None:
    samples = [_sample(float(t), 20.0) for t in range(0, 600, 1)]
    samples[-3] = _sample(597.0, 50.0)  # a peak in the newest column
    samples[-1] = _sample(599.0, 25.0)
    chart = _chart(samples)
    points = _points(chart.find("polyline[@class='measured']"))
    [now] = chart.findall("circle[@class='now']")
    assert points[-1] == (float(now.attrib["cx"]), float(now.attrib["cy"]))
    # The peak is still drawn just before; the line ends at 25 A, the table's "current now".
    assert min(y for _, y in points[-6:-1]) < points[-1][1] < points[0][1]
    assert "L1: 25.0 A now, cap 63 A" in "".join(chart.itertext())


def test_the_legend_says_what_each_point_is_in_plain_words() -> None:
    young = [_sample(float(t), 20.0) for t in range(0, 60)]
    old = [_sample(float(t), 20.0) for t in range(0, 3600, 5)]
    assert "current at the grid connection (each reading)" in render(
        StatusSnapshot(0.0, [], [], _site(young))
    )
    assert "(the highest in each 10 s)" in render(StatusSnapshot(0.0, [], [], _site(old)))


def test_configured_chargers_that_never_connected_are_listed_as_offline() -> None:
    here = ChargerView("CP1", OcppVersion.V201, True, 500.0)
    page = render(StatusSnapshot(900.0, [here], [], None, expected=["CP1", "CP2"], started_at=0.0))
    assert "Chargers (1 of 2 connected)" in page
    assert re.search(
        r"<td>CP2</td><td><span class=\"warn\">offline since \d\d:\d\d \(15 min\)</span>",
        page,
    )


def test_connectors_are_in_words() -> None:
    charger = ChargerView("CP1", OcppVersion.V16, True, 0.0)
    charger.statuses.update({(0, None): "Available", (1, None): "Charging", (2, None): "Faulted"})
    page = render(StatusSnapshot(10.0, [charger], [], None))
    assert "whole charger: free; connector 1: charging; connector 2: fault" in page


def test_a_session_says_what_the_car_does_with_its_priority_and_why() -> None:
    charger = ChargerView("CP1", OcppVersion.V16, True, 0.0)
    charger.statuses[(1, None)] = "Charging"  # a 1.6 charger still says Charging
    charger.statuses[(2, None)] = "Charging"
    charger.sessions["a"] = SessionView("CP1", "a", 1, 0.0, current_a=(15.96, 16.0, 15.9))
    charger.sessions["b"] = SessionView("CP1", "b", 2, 0.0)
    status = replace(
        _site([_sample(0.0, 40.0)]),
        evses={
            "CP1/1": EvseControl(16.0, None, True, priority=2, reason="its fair share"),
            "CP1/2": EvseControl(0.0, "no_capacity", True, priority=0, reason="no room"),
        },
    )
    page = render(StatusSnapshot(10.0, [charger], [], status))
    assert "<td>charging at 16.0 A</td>" in page
    assert "<td>paused: no capacity</td>" in page
    assert "<td>2</td><td>16.0 A</td><td>its fair share</td>" in page
    assert "<td>0</td><td>0 A</td><td>no room</td>" in page


def test_a_backlog_that_waits_for_its_charger_is_shown_even_for_a_charger_not_seen() -> None:
    online = ChargerView("CP2", OcppVersion.V16, True, 0.0)
    backlog = {"CP2": (1, 590.0), "CP9": (2, 0.0)}
    page = render(StatusSnapshot(600.0, [online], [], None, backlog, frozenset({"CP9"})))
    assert "Chargers (1 of 2 connected)" in page
    assert re.search(
        r"<td>CP9</td><td><span class=\"warn\">offline since .*?</span>.*?"
        r"2 messages waiting for the CSMS \(oldest 10 min ago\)",
        page,
    )
    assert page.count("wait for this charger to reconnect") == 1


def test_the_grid_section_shows_every_panel_against_its_fuse() -> None:
    panels = (
        PanelLoad("floor-1", None, (80.0, 80.0, 80.0), (70.0, 81.5, 60.0), (10.0, 0.0, 20.0), True),
        PanelLoad("row-a", "floor-1", (32.0, 32.0, 32.0), (16.0, 16.0, 16.0), None, False),
        PanelLoad("floor-2", None, (80.0, 80.0, 80.0), None, None, True),
    )
    status = replace(_site([_sample(0.0, 40.0)]), panels=panels)
    page = render(StatusSnapshot(10.0, [], [], status))
    assert (
        "<tr><td>floor-1</td><td>grid connection</td><td>70.0 A of 80 A</td>"
        '<td><span class="warn">81.5 A of 80 A</span></td><td>60.0 A of 80 A</td>'
        "<td>its sub-meter</td></tr>"
    ) in page
    assert "<tr><td>row-a</td><td>floor-1</td><td>16.0 A of 32 A</td>" in page
    assert "<td>its chargers</td>" in page
    assert (
        "<td>– of 80 A</td><td>– of 80 A</td><td>– of 80 A</td>"
        '<td><span class="warn">sub-meter stale: safe currents</span></td>'
    ) in page


def test_a_site_without_panels_shows_no_panel_table() -> None:
    page = render(StatusSnapshot(10.0, [], [], _site([_sample(0.0, 40.0)])))
    assert "fed from" not in page


def test_the_lcs_software_on_trial_with_a_reset_waiting_for_the_journal() -> None:
    now = 1_800_000_000.0
    software = SoftwareStatus(
        "0.2.0",
        current="0.2.0",
        trial_until=now + 120,
        kept=["0.1.0"],
        last_update=UpdateRecord(
            "https://cso:secret@csms.example/lc-0.2.0.tar.gz", "Installing", now - 60
        ),
        reset_scheduled=True,
    )
    snapshot = StatusSnapshot(
        now, [], [], None, {"CP-1": (3, now - 10), "CP-2": (2, now - 5)}, software=software
    )
    page = render(snapshot)
    until = time.strftime("%H:%M:%S", time.localtime(now + 120))
    assert "Version <b>0.2.0</b> runs, from releases/current." in page
    assert f'<span class="warn">On trial until {until}</span>' in page
    assert "Kept for a rollback: 0.1.0." in page
    assert "Restarts when idle (a Reset from the CSMS): waiting for 5 journaled messages." in page
    assert "<td>https://csms.example/lc-0.2.0.tar.gz</td><td>installing</td>" in page
    assert "secret" not in page
    assert "<td>in progress</td>" in page


def test_the_installed_release_with_no_update_shows_only_its_version() -> None:
    snapshot = StatusSnapshot(1.0, [], [], None, software=SoftwareStatus("0.1.0"))
    page = render(snapshot)
    assert "Version <b>0.1.0</b> runs, from the installed release.\n</p>" in page
    assert "last update" not in page and "Restarts when idle" not in page
