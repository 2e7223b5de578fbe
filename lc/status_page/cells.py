"""The pieces of the page's tables: rows, and the currents, energies, times and outcomes in
their cells."""

from __future__ import annotations

import time
from html import escape


def table_head(*names: str) -> str:
    return "<table><tr>" + "".join(f"<th>{name}</th>" for name in names) + "</tr>"


def row(*cells: str) -> str:
    """A table row of cells that are HTML already (texts from chargers escaped)."""
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def amps(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} A"


def kilo(value: float | None, unit: str) -> str:
    return "–" if value is None else f"{value / 1000:.2f} {unit}"


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def ago(seconds: float) -> str:
    return f"{duration(seconds)} ago"


def since(at: float, now: float) -> str:
    """ "14:02 (12 min)": the local time of day and how long ago."""
    return f"{time.strftime('%H:%M', time.localtime(at))} ({duration(now - at)})"


def outcome(result: str | None) -> str:
    """How a transfer or an update ended, a failure in red; None: it runs."""
    if result is None:
        return "in progress"
    if result in ("installed", "uploaded"):
        return result
    return f'<span class="warn">{escape(result.replace("_", " "))}</span>'
