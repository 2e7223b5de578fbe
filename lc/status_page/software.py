"""The LC's own software: the running release, a trial, a rollback and the last update."""

from __future__ import annotations

import time
from html import escape

from lc.status_page import cells
from lc.status_page.snapshot import StatusSnapshot
from lc.wording import (
    location_without_credentials,
    transfer_words,
)


def software_section(snapshot: StatusSnapshot) -> list[str]:
    software = snapshot.software
    if software is None:
        return []
    release = "the installed release" if software.current is None else "releases/current"
    lines = [
        "<h2>The LC's software</h2>",
        f'<p class="software">Version <b>{escape(software.running)}</b> runs, from {release}.',
    ]
    if software.trial_until is not None:
        until = time.strftime("%H:%M:%S", time.localtime(software.trial_until))
        lines.append(
            f' <span class="warn">On trial until {until}</span>: rolled back unless it is'
            " accepted by the CSMS by then."
        )
    if software.kept:
        lines.append(f" Kept for a rollback: {escape(', '.join(software.kept))}.")
    elif software.current is not None:
        lines.append(" Kept for a rollback: the installed release.")
    if software.reset_scheduled:
        waiting = sum(count for count, _oldest in snapshot.backlog.values())
        lines.append(
            f" Restarts when idle (a Reset from the CSMS): waiting for {waiting} journaled"
            " messages."
        )
    lines.append("</p>")
    update = software.last_update
    if update is not None:
        location = location_without_credentials(update.location) or "–"
        lines += [
            '<div class="scroll">',
            cells.table_head("last update", "file", "state", "since", "result"),
            cells.row(
                "the LC itself",
                escape(location),
                escape(transfer_words(update.state)),
                cells.since(update.since, snapshot.now),
                cells.outcome(update.outcome),
            ),
            "</table></div>",
        ]
    return lines
