"""The LC's own security settings at the CSMS (SecurityCtrlr): the Basic-auth password the CSMS
rotates (2.0.1 A01), the security profile a 1.6 CSMS raises (its whitepaper's A05) and the
security settings it reads.

The password the CSMS sets is kept across restarts in a private file beside the station state
(mode 0600), with a fingerprint of the config file's password it replaced: the later change
wins, as for the balancer's settings. It is never logged, read back or shown.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from certificates.chain import valid_at
from certificates.config import MAX_CHAIN_SIZE, CertificateSettings
from certificates.trust_store import ROOT_TYPES, root_problem
from ocpp_knowledge.security_events import RecordSecurityEvent
from router.frames import OcppVersion
from station.config import StationConfig, valid_password
from station.configuration_keys import ROOT_CHECK
from station.device_model import Binding, VariableSpec, constant
from station.link import Handler, StationLink
from station.overrides import Overrides
from station.security_profile import Prerequisites, refusal

if TYPE_CHECKING:
    from lc.app import LocalController

log = logging.getLogger(__name__)

PASSWORD_KEY = "SecurityCtrlr.BasicAuthPassword"


def _password_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.stem + "-password.json")


def _fingerprint(password: str | None) -> str:
    """What the store keeps of the config file's password: enough to see that it changed."""
    return hashlib.sha256((password or "").encode("utf-8")).hexdigest()


class BasicAuthPassword:
    """The password the LC's own link presents: the CSMS's last one, unless the config file's
    changed since."""

    def __init__(self, station: StationConfig) -> None:
        self._configured = station.password
        self._store = Overrides(_password_path(station.state_path), quiet=True)

    @property
    def value(self) -> str | None:
        configured = _fingerprint(self._configured)
        value = self._store.effective(PASSWORD_KEY, configured)
        return self._configured if value == configured else value

    def change(self, password: str) -> None:
        self._store.set(PASSWORD_KEY, password, _fingerprint(self._configured))


def password_variable(
    link: StationLink, password: BasicAuthPassword, record: RecordSecurityEvent
) -> tuple[VariableSpec, Binding]:
    """A01: SetVariables SecurityCtrlr.BasicAuthPassword (write-only) stores the password,
    then the link reconnects with it."""

    def change(text: str) -> str:
        if not valid_password(text):
            return "Rejected"
        try:
            password.change(text)
        except OSError:
            return "Rejected"  # not stored: the CSMS keeps accepting the old one (A01.FR.04)
        link.use_password(text)
        # A01.FR.11/12: the change is in the security log, the password is not.
        record("ReconfigurationOfSecurityParameters", "BasicAuthPassword changed by the CSMS")
        if link.network.active.security_profile < 3:
            # A01 steps 3-4: once the CSMS has the answer, reconnect with the new password.
            link.after_answer(link.move)
        return "Accepted"

    spec = VariableSpec("SecurityCtrlr", "BasicAuthPassword", "WriteOnly", persistent=True)
    return spec, Binding(lambda: "", change)


def security_profile_variable(lc: LocalController) -> tuple[VariableSpec, Binding]:
    """SecurityCtrlr.SecurityProfile: the connection in use's. 2.0.1 changes it through network
    profiles; a 1.6 CSMS raises it with ChangeConfiguration SecurityProfile (A05): checked,
    answered, then the link reconnects with it (A05.FR.06/07)."""
    link = lc.station
    assert link is not None
    network = link.network
    read = Binding(lambda: str(network.active.security_profile))
    if link.session.dialect.version is OcppVersion.V201:
        return VariableSpec("SecurityCtrlr", "SecurityProfile", data_type="integer"), read

    def change(text: str) -> str:
        refused = refusal(text, network.wanted_security, security_prerequisites(lc))
        if refused is not None:
            log.warning("SecurityProfile %s from the CSMS rejected: %s", text, refused)
            return "Rejected"
        network.raise_security(int(text))
        link.after_answer(link.move)
        return "Accepted"

    spec = VariableSpec("SecurityCtrlr", "SecurityProfile", "ReadWrite", "integer", persistent=True)
    return spec, Binding(read.read, change)


def security_prerequisites(lc: LocalController) -> Prerequisites:
    """What the LC holds now for a higher security profile. A CSMS root: one the CSMS installed
    or the CA the site manager configured towards the CSMS, not the system's CAs alone; a
    client certificate: the LC's renewed one or the configured one."""
    link, upstream = lc.station, lc.config.router.upstream_tls
    assert link is not None
    now = datetime.now(UTC)
    roots = [] if lc.trust_store is None else lc.trust_store.roots("CSMSRootCertificate")
    own = None if lc.own_certificates is None else lc.own_certificates.current(now)
    return Prerequisites(
        password=link.settings.password is not None,
        csms_root=any(root_problem(root, now) is None for root in roots)
        or (upstream is not None and _valid_in(upstream.ca, now)),
        client_certificate=own is not None
        or (upstream is not None and _valid_in(upstream.certificate, now, leaf_only=True)),
    )


def _valid_in(path: Path | None, now: datetime, leaf_only: bool = False) -> bool:
    """Whether the PEM file at `path` holds a certificate valid at `now` (`leaf_only`: its
    first, the one a chain presents)."""
    if path is None:
        return False
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        log.warning("%s unreadable: %s", path, exc)
        return False
    return any(
        valid_at(certificate, now)
        for certificate in (certificates[:1] if leaf_only else certificates)
    )


@dataclass(frozen=True, slots=True)
class CertificateSetting:
    """A [certificates] setting the CSMS may change as a SecurityCtrlr variable."""

    data_type: str
    read: Callable[[CertificateSettings], str]
    # The settings with the CSMS's value; ValueError for a value the setting cannot take.
    change: Callable[[CertificateSettings, str], CertificateSettings]


def _organization(settings: CertificateSettings, text: str) -> CertificateSettings:
    # X.520's upper bound for an O attribute, which the LC's requests carry.
    if not text.strip() or len(text) > ORGANIZATION_LENGTH:
        raise ValueError(f"1 to {ORGANIZATION_LENGTH} characters")
    return replace(settings, organization=text)


def _wait_minimum(settings: CertificateSettings, text: str) -> CertificateSettings:
    if int(text) < 1:
        raise ValueError("at least 1 s")
    return replace(settings, cert_signing_wait_minimum_s=float(int(text)))


def _repeat_times(settings: CertificateSettings, text: str) -> CertificateSettings:
    if int(text) < 0:
        raise ValueError("at least 0")
    return replace(settings, cert_signing_repeat_times=int(text))


def _max_chain_size(settings: CertificateSettings, text: str) -> CertificateSettings:
    if not 1 <= int(text) <= MAX_CHAIN_SIZE:
        raise ValueError(f"1 to {MAX_CHAIN_SIZE}")
    return replace(settings, max_certificate_chain_size=int(text))


ORGANIZATION_LENGTH = 64
CERTIFICATE_SETTINGS = {
    "OrganizationName": CertificateSetting("string", lambda s: s.organization, _organization),
    "CertSigningWaitMinimum": CertificateSetting(
        "integer", lambda s: str(round(s.cert_signing_wait_minimum_s)), _wait_minimum
    ),
    "CertSigningRepeatTimes": CertificateSetting(
        "integer", lambda s: str(s.cert_signing_repeat_times), _repeat_times
    ),
    "MaxCertificateChainSize": CertificateSetting(
        "integer", lambda s: str(s.max_certificate_chain_size), _max_chain_size
    ),
}


def _setting_key(variable: str) -> str:
    return f"SecurityCtrlr.{variable}"


class CertificateSettingsInForce:
    """The [certificates] settings that apply: the config file's, with the CSMS's changes on
    top (kept in the station's overrides; the later change wins)."""

    def __init__(self, file: CertificateSettings, overrides: Overrides) -> None:
        self._file = file
        self._overrides = overrides
        self.current = file
        for variable, setting in CERTIFICATE_SETTINGS.items():
            file_value = setting.read(file)
            value = overrides.effective(_setting_key(variable), file_value)
            with contextlib.suppress(ValueError):  # the file's applies
                self.current = setting.change(self.current, value)
        self._listeners: list[Callable[[CertificateSettings], None]] = []

    def on_change(self, listener: Callable[[CertificateSettings], None]) -> None:
        self._listeners.append(listener)

    def variables(self, record: RecordSecurityEvent) -> list[tuple[VariableSpec, Binding]]:
        def binding(variable: str, setting: CertificateSetting) -> Binding:
            def write(text: str) -> str:
                try:
                    changed = setting.change(self.current, text)
                except ValueError:
                    return "Rejected"
                self._overrides.set(_setting_key(variable), text, setting.read(self._file))
                self.current = changed
                for listener in self._listeners:
                    listener(changed)
                record(
                    "ReconfigurationOfSecurityParameters",
                    f"SecurityCtrlr.{variable} set to {text!r} by the CSMS",
                )
                return "Accepted"

            return Binding(lambda: setting.read(self.current), write)

        return [
            (
                VariableSpec(
                    "SecurityCtrlr",
                    variable,
                    "ReadWrite",
                    setting.data_type,
                    "s" if variable == "CertSigningWaitMinimum" else None,
                    persistent=True,
                ),
                binding(variable, setting),
            )
            for variable, setting in CERTIFICATE_SETTINGS.items()
        ]


def security_variables(lc: LocalController) -> list[tuple[VariableSpec, Binding]]:
    """SecurityCtrlr's settings beside Identity and SecurityProfile: the password the CSMS
    rotates; with [certificates], what the LC's certificate requests use and how many CA
    certificates it holds."""
    station = lc.config.station
    assert lc.station is not None and station is not None
    record = lc.security.events.record
    rows = [password_variable(lc.station, BasicAuthPassword(station), record)]
    in_force, store = lc.certificate_settings, lc.trust_store
    if in_force is not None and store is not None:
        rows += in_force.variables(record)
        rows += [
            (
                VariableSpec("SecurityCtrlr", "CertificateEntries", data_type="integer"),
                Binding(lambda: str(sum(len(store.installed(kind)) for kind in ROOT_TYPES))),
            ),
            # M05's check of a new root against a fallback one: the LC does not make it.
            (
                VariableSpec("SecurityCtrlr", ROOT_CHECK, data_type="boolean"),
                constant("false"),
            ),
        ]
    return rows


def report_trust_changes(
    link: StationLink, record: RecordSecurityEvent, trust_changed: Callable[[], None]
) -> None:
    """An installed or deleted CA certificate changes whom the LC trusts: a security parameter
    (A04 ReconfigurationOfSecurityParameters), and `trust_changed` makes the next dials trust
    accordingly (a CSMS root installed or deleted counts at once, not after a restart). Wraps
    the registered handlers."""
    for action in ("InstallCertificate", "DeleteCertificate"):
        link.register(action, _reported(action, link.handlers[action], record, trust_changed))


def _reported(
    action: str, handler: Handler, record: RecordSecurityEvent, trust_changed: Callable[[], None]
) -> Handler:
    async def handle(payload: dict[str, Any]) -> dict[str, Any]:
        result = handler(payload)
        response = await result if inspect.isawaitable(result) else result
        if response.get("status") == "Accepted":
            kind = payload.get("certificateType", "a certificate by its hash data")
            record("ReconfigurationOfSecurityParameters", f"{action}: {kind}")
            trust_changed()
        return response

    return handle
