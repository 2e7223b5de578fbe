"""The LC's own security settings at the CSMS (SecurityCtrlr): the Basic-auth password the CSMS
rotates (2.0.1 A01) and the security settings it reads.

The password the CSMS sets is kept across restarts in a private file beside the station state
(mode 0600), with a fingerprint of the config file's password it replaced: the later change
wins, as for the balancer's settings. It is never logged, read back or shown.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from certificates.trust_store import ROOT_TYPES
from ocpp_knowledge.security_events import RecordSecurityEvent
from station.config import StationConfig, valid_password
from station.device_model import Binding, VariableSpec, constant
from station.link import StationLink
from station.overrides import Overrides

if TYPE_CHECKING:
    from lc.app import LocalController

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


def security_variables(lc: LocalController) -> list[tuple[VariableSpec, Binding]]:
    """SecurityCtrlr's settings beside Identity and SecurityProfile: the password the CSMS
    rotates; with [certificates], what the LC's certificate requests and trust store use."""
    station = lc.config.station
    assert lc.station is not None and station is not None
    rows = [password_variable(lc.station, BasicAuthPassword(station), lc.security.events.record)]
    managed, store = lc.config.certificates, lc.trust_store
    if managed is not None and store is not None:
        rows += [
            (VariableSpec("SecurityCtrlr", "OrganizationName"), constant(managed.organization)),
            (
                VariableSpec("SecurityCtrlr", "CertificateEntries", data_type="integer"),
                Binding(lambda: str(sum(len(store.installed(kind)) for kind in ROOT_TYPES))),
            ),
            (
                VariableSpec(
                    "SecurityCtrlr", "CertSigningWaitMinimum", data_type="integer", unit="s"
                ),
                constant(str(round(managed.cert_signing_wait_minimum_s))),
            ),
            (
                VariableSpec("SecurityCtrlr", "CertSigningRepeatTimes", data_type="integer"),
                constant(str(managed.cert_signing_repeat_times)),
            ),
        ]
    return rows
