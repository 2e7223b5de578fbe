"""The router's settings as the site config gives them (router/config.py reads them): the
chargers' port, the CSMS it dials, the bounds on handshakes and frames, TLS, and the hold policy.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from router.admission import AdmissionSettings
from router.journal_bounds import JournalLimits
from router.offline import OfflineSettings
from router.sealed_credentials import CredentialSealer
from router.session import SessionSettings
from router.tls import CertificateFiles, UpstreamTlsSettings

# aiohttp closes a link outright (1009) above this multiple of the configured frame limit;
# between the two, the session answers with a CALLERROR and the link stays up.
HARD_FRAME_LIMIT_FACTOR = 4


@dataclass(frozen=True, slots=True)
class RouterSettings:
    upstream_url: str
    listen_host: str = "127.0.0.1"
    listen_port: int = 9000
    ping_interval_s: float | None = 30.0
    connect_timeout_s: float = 10.0
    session: SessionSettings = field(default_factory=SessionSettings)
    # Each charger's frames are read at this rate on average, bursts up to frame_burst
    # (router/rate_limit.py); None: unlimited.
    max_frames_per_s: float | None = 50.0
    frame_burst: int = 200
    # A charger's frame whose first bytes arrived must be complete within this, or its link
    # is closed (1008); None: no limit.
    frame_timeout_s: float | None = 30.0
    # A charger's invalid frames are logged one line per this interval, with a count.
    violation_log_interval_s: float = 60.0
    # Charger connections beyond this are refused with 503; None: no limit.
    max_chargers: int | None = None
    # TCP sockets on the charger port, upgraded or not; one beyond is closed. None: no limit.
    max_connections: int | None = 1000
    # A socket must deliver its whole upgrade request within this time of being accepted, and
    # may then wait this long for its turn to dial the CSMS.
    handshake_timeout_s: float = 10.0
    admission: AdmissionSettings = field(default_factory=AdmissionSettings)
    # CSMS dials at once; handshakes beyond wait (up to handshake_timeout_s, then 503).
    max_csms_dials: int = 20
    # Security profiles 2/3 (router/tls.py): the LC's TLS server context towards chargers (one
    # that requires client certificates means profile 3) and its client context towards the
    # CSMS. Contexts only compare as the same object: left out of comparisons, so a reloaded
    # config is not reported as changed for them.
    server_ssl: ssl.SSLContext | None = field(default=None, compare=False)
    upstream_ssl: ssl.SSLContext | None = field(default=None, compare=False)
    # The certificate files behind those contexts, by use (charger_server, charger_ca,
    # upstream_client, upstream_ca): what the certificate expiry metric reads.
    certificate_files: CertificateFiles = ()
    # What upstream_ssl was built from: the LC rebuilds it with renewed certificates.
    upstream_tls: UpstreamTlsSettings | None = None
    # Security profile 3: a charger certificate's O must contain this (A00.FR.404); None: any.
    charger_organization: str | None = None
    # Only these charger identities may connect (404 otherwise); None: any.
    allowed_identities: frozenset[str] | None = None
    # None: the `close` policy of Part 4 §6.3; otherwise `hold` (errata 2025-02).
    hold: HoldSettings | None = None

    @property
    def hard_frame_limit(self) -> int:
        """The frame size above which either link is closed outright (1009)."""
        return self.session.max_frame_chars * HARD_FRAME_LIMIT_FACTOR


@dataclass(frozen=True, slots=True)
class HoldSettings:
    journal_path: Path
    offline: OfflineSettings = field(default_factory=OfflineSettings)
    # keep_credentials: Basic-auth headers are stored sealed with the backlog (None: not kept).
    sealer: CredentialSealer | None = field(default=None, compare=False, repr=False)
    limits: JournalLimits = field(default_factory=JournalLimits)
