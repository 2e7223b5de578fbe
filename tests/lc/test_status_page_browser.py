"""The status page as Chromium renders it, at a desktop and a phone width: a site with an
overload now, a meter outage in the last minutes and a configured charger that is absent.

The HTML string can be right and the page still wrong on a screen (a chart too small to
read, a table pushing the page sideways on a phone, a shade the legend promises that does
not show): these checks measure the rendered page and look at its pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from balancer.allocate import Mode
from balancer.history import SiteSample
from firmware.self_update import UpdateRecord
from lc.site_view import ChargerView, SessionView, TransferView
from lc.status_page import render
from lc.status_page.snapshot import BalancerStatus, EvseControl, SoftwareStatus, StatusSnapshot
from router.frames import OcppVersion
from tests.browser import Page, chromium, png_pixels

pytestmark = pytest.mark.timeout(300)

CAPS = (63.0, 63.0, 63.0)
NOW = 1_800_000_000.0
# (name, width, height, mobile)
WINDOWS = [("desktop", 1280, 900, False), ("phone", 390, 844, True)]


def _history() -> list[SiteSample]:
    """20 minutes: normal, a meter outage, normal, then L1 above its cap at the end."""
    samples = []
    for t in range(0, 1200, 2):
        if 500 <= t < 640:
            currents, mode = None, Mode.SAFE
        elif t >= 1140:
            currents, mode = (71.0, 40.0, 30.0), Mode.NORMAL
        else:
            currents, mode = (45.0, 38.0, 28.0), Mode.NORMAL
        samples.append(SiteSample(float(t), currents, CAPS, 3.0, (30.0, 30.0, 20.0), mode))
    return samples


def _snapshot() -> StatusSnapshot:
    charging = ChargerView("Row-A-01", OcppVersion.V201, True, NOW - 3000)
    charging.vendor, charging.model, charging.firmware = "Alfen", "Eve Single", "6.4.1"
    charging.statuses[(1, 1)] = "Occupied"
    session = SessionView("Row-A-01", "3f2a9c1e-5d7b-4f7e-9a43-1c2b3d4e5f60", 1, NOW - 1800)
    session.charging_state, session.current_a = "Charging", (31.8, 31.9, 31.7)
    session.power_w, session.energy_start_wh, session.energy_wh = 21900.0, 1000.0, 9800.0
    charging.sessions[session.transaction_id] = session
    charging.transfers["firmware"] = TransferView(
        "firmware",
        "https://10.0.0.2:8443/firmware/eve-6.5.0.bin",
        NOW - 900,
        "Downloading",
        NOW - 60,
    )
    paused = ChargerView("Row-A-02", OcppVersion.V16, True, NOW - 2000)
    paused.statuses.update({(0, None): "Available", (1, None): "Charging"})
    paused.sessions["-1"] = SessionView("Row-A-02", "-1", 1, NOW - 600)
    balancer = BalancerStatus(
        mode=Mode.NORMAL,
        caps=CAPS,
        margin=3.0,
        measured=(71.0, 40.0, 30.0),
        history=_history(),
        window_s=3600,
        evses={
            "Row-A-01/1": EvseControl(32.0, None, True, 1, "its maximum (32 A): there is room"),
            "Row-A-02/1": EvseControl(0.0, "no_capacity", True, 0, "not enough room"),
        },
        station_max=frozenset(),
    )
    return StatusSnapshot(
        NOW,
        [charging, paused],
        [],
        balancer,
        expected=["Row-A-01", "Row-A-02", "Row-B-07"],
        started_at=NOW - 3600,
        software=SoftwareStatus(
            "0.1.0",
            last_update=UpdateRecord(
                "https://csms.example/lc/ocpp-lc-0.2.0.tar.gz", "InstallationFailed", NOW - 120
            ),
        ),
    )


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    file = tmp_path_factory.mktemp("page") / "status.html"
    file.write_text(render(_snapshot()), encoding="utf-8")
    return file


_LAYOUT = """(() => {
  const box = e => { const r = e.getBoundingClientRect();
    return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}; };
  const charts = [...document.querySelectorAll('svg.chart')];
  return {
    inner: innerWidth,
    scroll: document.documentElement.scrollWidth,
    charts: charts.map(box),
    label: Math.min(...charts.flatMap(c => [...c.querySelectorAll('text')].map(
      t => t.getBoundingClientRect().height))),
    mode: document.querySelector('.mode').textContent,
    absent: [...document.querySelectorAll('tr')].map(r => r.innerText)
      .filter(t => t.startsWith('Row-B-07')),
    session: [...document.querySelectorAll('tr')].map(r => r.innerText)
      .filter(t => t.startsWith('Row-A-02')).pop(),
    firmware: [...document.querySelectorAll('tr')].map(r => r.innerText)
      .filter(t => t.startsWith('Row-A-01') && t.includes('firmware update')),
    software: document.querySelector('p.software').innerText,
    lastUpdate: [...document.querySelectorAll('tr')].map(r => r.innerText)
      .filter(t => t.startsWith('the LC itself')),
    rolledBack: [...document.querySelectorAll('tr')]
      .filter(r => r.innerText.startsWith('the LC itself'))
      .map(r => getComputedStyle(r.cells[4].firstElementChild).color),
    overload: [...charts[0].querySelectorAll('rect.shade-overload')].map(box),
    meterLost: [...charts[0].querySelectorAll('rect.shade-meter-lost')].map(box),
    legendOverload: box(document.querySelectorAll('.legend li')[4].querySelector('svg')),
  };
})()"""


def _share(png: bytes, looks: Callable[[int, int, int], bool]) -> float:
    """The fraction of the PNG's pixels whose colour `looks` as wanted."""
    width, height, rows = png_pixels(png)
    matching = sum(1 for row in rows for i in range(0, len(row), 3) if looks(*row[i : i + 3]))
    return matching / (width * height)


def _vermillion(r: int, g: int, b: int) -> bool:
    """The cap's and the overload stripes' colour, anti-aliased edges included."""
    return r - b > 120 and r - g > 60


def _grey(r: int, g: int, b: int) -> bool:
    return max(r, g, b) - min(r, g, b) < 8 and 150 < r < 215


def _span(boxes: list[dict[str, float]]) -> dict[str, float]:
    """The box around several boxes (adjacent shade columns)."""
    left = min(b["x"] for b in boxes)
    top = min(b["y"] for b in boxes)
    right = max(b["x"] + b["width"] for b in boxes)
    bottom = max(b["y"] + b["height"] for b in boxes)
    return {"x": left, "y": top, "width": right - left, "height": bottom - top}


@pytest.mark.parametrize(
    ("name", "width", "height", "mobile"), WINDOWS, ids=[w[0] for w in WINDOWS]
)
async def test_the_rendered_page_at_desktop_and_phone_width(
    page_file: Path, tmp_path: Path, name: str, width: int, height: int, mobile: bool
) -> None:
    async with chromium(tmp_path / "profile") as page:
        await page.open(page_file.as_uri(), width, height, mobile)
        layout: dict[str, Any] = await page.evaluate(_LAYOUT)
        (tmp_path / f"status-{name}.png").write_bytes(await page.screenshot())
        await _check_layout(layout, width)
        await _check_shades(page, layout)


async def _check_layout(layout: dict[str, Any], width: int) -> None:
    assert layout["inner"] == width
    # Nothing pushes the page sideways: wide tables scroll inside their own box.
    assert layout["scroll"] <= width
    charts = layout["charts"]
    assert len(charts) == 3
    assert all(c["x"] >= 0 and c["x"] + c["width"] <= width for c in charts)
    if width >= 1000:  # side by side, each large enough to read
        assert len({round(c["y"]) for c in charts}) == 1
        assert all(c["width"] >= 350 for c in charts)
    else:  # one under the other, each nearly the phone's width
        assert charts[0]["y"] < charts[1]["y"] < charts[2]["y"]
        assert all(c["width"] >= width * 0.8 for c in charts)
    assert layout["label"] >= 10  # axis labels at least 10 CSS px tall once scaled
    assert layout["mode"] == "overload: L1 above the cap"
    assert len(layout["absent"]) == 1 and "offline since" in layout["absent"][0]
    assert "paused: no capacity" in layout["session"] and "Charging" not in layout["session"]
    [firmware] = layout["firmware"]  # one row per cell, cells apart: the words a person reads
    cells = [cell.strip() for cell in firmware.split("\t")]
    assert cells[:4] == [
        "Row-A-01",
        "firmware update",
        "https://10.0.0.2:8443/firmware/eve-6.5.0.bin",
        "downloading",
    ]
    assert cells[4].endswith("(1 min)") and cells[5] == "in progress"
    assert layout["software"] == "Version 0.1.0 runs, from the installed release."
    [last_update] = layout["lastUpdate"]
    cells = [cell.strip() for cell in last_update.split("\t")]
    assert cells[:3] == [
        "the LC itself",
        "https://csms.example/lc/ocpp-lc-0.2.0.tar.gz",
        "InstallationFailed",
    ]
    assert cells[3].endswith("(2 min)") and cells[4] == "rolled back"
    assert layout["rolledBack"] == ["rgb(160, 0, 0)"]  # in the warning's red


async def _check_shades(page: Page, layout: dict[str, Any]) -> None:
    # The overload is shaded in vermillion stripes, as the legend's swatch shows it; the
    # meter outage in grey, without vermillion.
    assert layout["overload"] and layout["meterLost"]
    overload = await page.screenshot(_span(layout["overload"]))
    legend = await page.screenshot(layout["legendOverload"])
    lost = await page.screenshot(_span(layout["meterLost"]))
    # Stripes half vermillion; the grey outage crossed only by the thin cap line.
    shares = {
        "overload": _share(overload, _vermillion),
        "legend": _share(legend, _vermillion),
        "lost grey": _share(lost, _grey),
        "lost vermillion": _share(lost, _vermillion),
    }
    assert shares["overload"] > 0.1 and shares["legend"] > 0.1, shares
    assert shares["lost grey"] > 0.5 and shares["lost vermillion"] < 0.02, shares
