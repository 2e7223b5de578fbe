"""The LC's own link on the status page."""

from __future__ import annotations

import pytest

from balancer.site_cap import site_cap
from lc.status_page import render
from lc.status_page.snapshot import StationStatus, StatusSnapshot


def page(station: StationStatus | None) -> str:
    return render(StatusSnapshot(10.0, [], [], None, station=station))


def test_no_identity_no_section() -> None:
    assert "The LC at the CSMS" not in page(None)


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("accepted", "Accepted by the CSMS"),
        ("pending", '<span class="warn">Pending: the CSMS has not accepted it yet</span>'),
        ("rejected", '<span class="warn">Rejected by the CSMS'),
        ("disconnected", '<span class="warn">not connected'),
    ],
)
def test_the_link_state_in_words(state: str, words: str) -> None:
    html = page(StationStatus("LC-<1>", state, None, 0))
    assert "As <b>LC-&lt;1&gt;</b>: " + words in html


def test_a_lost_link_shows_the_last_boot_answer_and_the_losses() -> None:
    html = page(StationStatus("LC-1", "disconnected", "Accepted", 2))
    assert "Its last boot was answered Accepted." in html
    assert "The link was lost 2 times since the start." in html


@pytest.mark.parametrize(
    ("csms_limit_a", "words"),
    [
        (None, "The site cap is 32 / 32 / 25 A (L1 / L2 / L3), set by the config."),
        (20.0, "The site cap is 20 / 20 / 20 A (L1 / L2 / L3), set by the CSMS's site limit."),
    ],
)
def test_the_site_cap_and_the_limit_that_binds(csms_limit_a: float | None, words: str) -> None:
    cap = site_cap((32.0, 32.0, 25.0), csms_limit_a)
    assert words in page(StationStatus("LC-1", "accepted", "Accepted", 0, cap))
