"""The chart's lines stay apart for colour-blind eyes: each pair of line colours differs by a
clear distance (CIE76 ΔE in Lab) for normal vision and simulated protanopia, deuteranopia
and tritanopia (Machado, Oliveira and Fernandes 2009, severity 1, on linear sRGB)."""

from __future__ import annotations

import itertools
import math

import pytest

from lc.status_page.chart import CAP_COLOUR, CAP_MARGIN_COLOUR, MEASURED_COLOUR, PLANNED_COLOUR

Matrix = tuple[tuple[float, float, float], ...]
VISION: dict[str, Matrix] = {
    "normal": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    "protanopia": (
        (0.152286, 1.052583, -0.204868),
        (0.114503, 0.786281, 0.099216),
        (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968),
        (0.280085, 0.672501, 0.047413),
        (-0.011820, 0.042940, 0.968881),
    ),
    "tritanopia": (
        (1.255528, -0.076749, -0.178779),
        (-0.078411, 0.930809, 0.147602),
        (0.004733, 0.691367, 0.303900),
    ),
}
# Lines that share a chart. The distance is about what the old L1 colour (brown) had to the
# orange margin line for normal vision, which a site manager could not tell apart.
LINES = {
    "measured": MEASURED_COLOUR,
    "planned": PLANNED_COLOUR,
    "cap": CAP_COLOUR,
    "cap-margin": CAP_MARGIN_COLOUR,
}
MIN_DELTA_E = 22.0


def _linear(channel: int) -> float:
    value = channel / 255
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def _lab(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    r, g, b = rgb
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.9505
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.089

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def seen(colour: str, vision: Matrix) -> tuple[float, float, float]:
    """The colour `#rrggbb` in Lab as an eye with `vision` sees it."""
    rgb = [_linear(int(colour[i : i + 2], 16)) for i in (1, 3, 5)]
    simulated = [min(1.0, max(0.0, sum(row[k] * rgb[k] for k in range(3)))) for row in vision]
    return _lab((simulated[0], simulated[1], simulated[2]))


@pytest.mark.parametrize("vision", VISION)
def test_every_pair_of_chart_lines_is_told_apart(vision: str) -> None:
    for (name, colour), (other, other_colour) in itertools.combinations(LINES.items(), 2):
        distance = math.dist(seen(colour, VISION[vision]), seen(other_colour, VISION[vision]))
        assert distance >= MIN_DELTA_E, f"{name} vs {other}: ΔE {distance:.1f} ({vision})"


def test_the_old_l1_colour_and_margin_line_fail_the_check() -> None:
    """The check would have caught what the issue reports."""
    old_l1, old_margin = "#b5651d", "#e08000"
    distance = math.dist(seen(old_l1, VISION["normal"]), seen(old_margin, VISION["normal"]))
    assert distance < MIN_DELTA_E
