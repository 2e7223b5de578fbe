"""An EMS's limit on the site from outside OCPP."""

from __future__ import annotations

from html import escape

from lc.status_page import cells
from lc.status_page.site import cap_in_words
from lc.status_page.snapshot import StatusSnapshot


def external_limit_section(snapshot: StatusSnapshot) -> list[str]:
    external = snapshot.external_limit
    if external is None:
        return []
    inputs = [
        f"{name}: {cells.amps(amps)}"
        for name, amps in (("over HTTP", external.http_a), ("over Modbus", external.modbus_a))
    ]
    return [
        "<h2>External limit (EMS)</h2>",
        f"<p>{escape('; '.join(inputs))}. {cap_in_words(external.cap)}</p>",
    ]
