"""Dialling the CSMS for one charger, and turning a refusal into the charger's handshake answer."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from ocpp_knowledge.security_events import RecordSecurityEvent
from router.frame_tap import TappedClientWebSocketResponse
from router.timer_rounding import NO_ROUNDING
from router.tls_failures import tls_security_event

# Handshake headers the charger sent that the CSMS must see as if the charger dialled directly.
FORWARDED_HEADERS = ("Authorization", "User-Agent")
# Headers of a CSMS refusal that the charger must see too (e.g. the Basic-auth challenge).
MIRRORED_REFUSAL_HEADERS = ("WWW-Authenticate",)


# Refusal reasons that mean "the CSMS is not there" rather than "the CSMS says no". A CSMS
# certificate that does not verify is its own reason (a security event, its own metric and
# alert) but treated like an outage: under `hold` chargers go on charging and journaling.
CSMS_CERTIFICATE = "csms_certificate"
OUTAGE_REASONS = ("unreachable", "timeout", CSMS_CERTIFICATE)
# Refusals that mean "the CSMS does not take these credentials" (A04: FailedToAuthenticateAtCsms).
CREDENTIALS_REFUSED = ("http_401", "http_403")


class UpstreamRefused(Exception):
    """The CSMS did not accept the connection; `status` is what the charger gets."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"CSMS refused: {reason} -> HTTP {status}")
        self.status = status
        self.reason = reason  # a short label for metrics: http_401, unreachable, timeout, ...
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    base_url: str
    connect_timeout_s: float = 10.0
    ping_interval_s: float | None = 30.0
    max_frame_bytes: int = 65536
    ssl_context: ssl.SSLContext | None = None  # the seam for security profiles 2 and 3


class UpstreamDialer:
    def __init__(
        self,
        settings: UpstreamSettings,
        csms_certificate_checked: Callable[[str | None], None] = lambda problem: None,
        record_security_event: RecordSecurityEvent = lambda event_type, tech_info: None,
    ) -> None:
        """`csms_certificate_checked` hears after every TLS handshake with the CSMS: None when
        its certificate verified, else why not. A CSMS that offers no TLS version or cipher
        suite of the spec's is a security event."""
        self._settings = settings
        self._csms_certificate_checked = csms_certificate_checked
        self._record_security_event = record_security_event
        self._session: aiohttp.ClientSession | None = None
        # Sessions of an earlier TLS identity: their open CSMS links live on in them.
        self._retired: list[aiohttp.ClientSession] = []

    def use_ssl_context(self, context: ssl.SSLContext) -> None:
        """New CSMS links use `context` (a renewed certificate of the LC, new CSMS roots).

        Links already open keep the TLS session they have: closing the session that opened
        them would drop them, so it is kept until the dialer closes.
        """
        self._settings = replace(self._settings, ssl_context=context)
        if self._session is not None:
            self._retired.append(self._session)
            self._session = None

    def url_for(self, path: str) -> URL:
        """The CSMS URL for a charger's path, taken as sent: encoded=True keeps the URL
        library from resolving dot segments or decoding percent-escapes in it."""
        return URL(self._settings.base_url.rstrip("/") + path, encoded=True)

    async def dial(
        self, path: str, subprotocols: list[str], headers: dict[str, str]
    ) -> aiohttp.ClientWebSocketResponse:
        """Open the CSMS link for `path` offering the charger's subprotocols and headers."""
        if self._session is None:
            # No pool limit: one long-lived connection per charger is the point of this client.
            connector = aiohttp.TCPConnector(
                limit=0,
                ssl=self._settings.ssl_context or True,
                timeout_ceil_threshold=NO_ROUNDING,  # pings at their own moments
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                skip_auto_headers=("User-Agent",),
                ws_response_class=TappedClientWebSocketResponse,
            )
        settings = self._settings
        request_headers = CIMultiDict(
            (name, headers[name]) for name in FORWARDED_HEADERS if name in headers
        )
        try:
            async with asyncio.timeout(settings.connect_timeout_s):
                csms = await self._session.ws_connect(
                    self.url_for(path),
                    protocols=subprotocols,
                    headers=request_headers,
                    heartbeat=settings.ping_interval_s,
                    compress=15 if _offers_deflate(headers) else 0,
                    max_msg_size=settings.max_frame_bytes,
                )
                assert isinstance(csms, TappedClientWebSocketResponse)
                csms.start_tap(settings.max_frame_bytes)  # before the event loop turns
        except aiohttp.WSServerHandshakeError as exc:
            mirrored = {
                name: exc.headers[name]
                for name in MIRRORED_REFUSAL_HEADERS
                if exc.headers is not None and name in exc.headers
            }
            if settings.ssl_context is not None:  # TLS held: the CSMS's certificate verified
                self._csms_certificate_checked(None)
            # A 101 answer that is not a valid WebSocket handshake is the CSMS's fault: 502.
            status = exc.status if exc.status >= 400 else 502
            raise UpstreamRefused(status, f"http_{exc.status}", mirrored) from exc
        except aiohttp.ClientConnectorCertificateError as exc:
            self._csms_certificate_checked(str(exc.certificate_error))
            raise UpstreamRefused(502, CSMS_CERTIFICATE) from exc
        except aiohttp.ClientConnectorSSLError as exc:
            self._tls_failed(exc.os_error)
            raise UpstreamRefused(502, "unreachable") from exc
        except TimeoutError as exc:
            raise UpstreamRefused(504, "timeout") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamRefused(502, "unreachable") from exc
        if settings.ssl_context is not None:
            self._csms_certificate_checked(None)
        return csms

    def _tls_failed(self, error: OSError) -> None:
        if not isinstance(error, ssl.SSLError):
            return
        event = tls_security_event(error, "InvalidCsmsCertificate")
        if event is not None:
            self._record_security_event(event, f"TLS handshake with the CSMS: {error.reason}")

    async def close(self) -> None:
        for session in self._retired:
            await session.close()
        self._retired.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None


def _offers_deflate(headers: dict[str, str]) -> bool:
    """Whether the charger's handshake offered RFC 7692 permessage-deflate: the LC offers it to
    the CSMS only then. A compressed link holds ~200 KiB of zlib state at each end, for all
    its life: a charger that does not compress would pay that on the LC for nothing."""
    return any(
        name.lower() == "sec-websocket-extensions" and "permessage-deflate" in value.lower()
        for name, value in headers.items()
    )
