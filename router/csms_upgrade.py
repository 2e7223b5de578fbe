"""The WebSocket upgrade the LC sends the CSMS for a charger, and the check of the CSMS's answer
(RFC 6455 §4.1, RFC 7692 for permessage-deflate): no I/O, bytes and parsed heads in and out.

The request is written in one piece: what aiohttp's client builds per request on the way
(cookie jar, redirects, tracing, timeouts, case-insensitive header maps, a request and a
response object) cost a storm of chargers more CPU than the rest of their connect. The answer
is parsed by aiohttp's own HTTP parser, and the WebSocket it opens is aiohttp's.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from aiohttp.http import RawResponseMessage
from aiohttp.http_websocket import WS_KEY, WSHandshakeError, ws_ext_gen, ws_ext_parse
from yarl import URL

# Handshake headers the charger sent that the CSMS must see as if the charger dialled directly.
FORWARDED_HEADERS = ("Authorization", "User-Agent")
# Headers of a CSMS refusal that the charger must see too (e.g. the Basic-auth challenge).
MIRRORED_REFUSAL_HEADERS = ("WWW-Authenticate",)
# RFC 7692 with the largest window, as aiohttp offers it.
_DEFLATE_OFFER = ws_ext_gen(compress=15)
_BREAKS = frozenset("\r\n\0")


class UpgradeRefused(Exception):
    """The CSMS did not open the WebSocket: `status` is its answer's (101 for a broken one)."""

    def __init__(self, status: int, why: str, headers: dict[str, str]) -> None:
        super().__init__(f"HTTP {status}: {why}")
        self.status = status
        self.headers = headers  # those the charger must see too


@dataclass(frozen=True, slots=True)
class Upgrade:
    """One upgrade request: its bytes and what the answer must match."""

    request: bytes
    key: bytes  # Sec-WebSocket-Key
    offered: tuple[str, ...]  # subprotocols
    deflate: bool  # permessage-deflate offered


@dataclass(frozen=True, slots=True)
class Accepted:
    protocol: str | None  # the subprotocol the CSMS chose among those offered
    compress: int  # permessage-deflate window bits; 0: no compression
    notakeover: bool  # client_no_context_takeover


def upgrade_request(
    url: URL, subprotocols: list[str], headers: dict[str, str], deflate: bool
) -> Upgrade:
    """The upgrade for `url` offering the charger's subprotocols, with its forwarded headers.
    Header values come from the charger's parsed handshake, which holds no line breaks; one
    that did would be refused (ValueError), so no header can be smuggled into the request."""
    key = base64.b64encode(os.urandom(16))
    lines = [
        f"GET {url.raw_path_qs} HTTP/1.1",
        f"Host: {url.host_port_subcomponent}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        f"Sec-WebSocket-Key: {key.decode()}",
    ]
    if subprotocols:
        lines.append(f"Sec-WebSocket-Protocol: {','.join(subprotocols)}")
    if deflate:
        lines.append(f"Sec-WebSocket-Extensions: {_DEFLATE_OFFER}")
    for name in FORWARDED_HEADERS:
        value = headers.get(name)
        if value is not None:
            if not _BREAKS.isdisjoint(value):
                raise ValueError(f"the {name} header holds a line break")
            lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return Upgrade("\r\n".join(lines).encode(), key, tuple(subprotocols), deflate)


def check_answer(upgrade: Upgrade, answer: RawResponseMessage) -> Accepted:
    """What the CSMS accepted, or UpgradeRefused: its refusal, or an answer that does not
    complete the handshake."""
    headers = answer.headers
    if answer.code != 101:
        mirrored = {name: headers[name] for name in MIRRORED_REFUSAL_HEADERS if name in headers}
        raise UpgradeRefused(answer.code, answer.reason, mirrored)
    if headers.get("Upgrade", "").lower() != "websocket":
        raise UpgradeRefused(101, "invalid Upgrade header", {})
    if headers.get("Connection", "").lower() != "upgrade":
        raise UpgradeRefused(101, "invalid Connection header", {})
    expected = base64.b64encode(hashlib.sha1(upgrade.key + WS_KEY).digest()).decode()
    if headers.get("Sec-WebSocket-Accept", "") != expected:
        raise UpgradeRefused(101, "invalid Sec-WebSocket-Accept", {})
    chosen = [name.strip() for name in headers.get("Sec-WebSocket-Protocol", "").split(",")]
    protocol = next((name for name in chosen if name in upgrade.offered), None)
    compress, notakeover = 0, False
    if upgrade.deflate:
        try:
            compress, notakeover = ws_ext_parse(headers.get("Sec-WebSocket-Extensions"))
        except WSHandshakeError as exc:
            raise UpgradeRefused(101, str(exc), {}) from exc
    return Accepted(protocol, compress, notakeover)
