"""A renewed client certificate on trial (errata 2025-09 A02.FR.10/28/29), without a network:
which certificate the LC's own link presents as its dials go, and the pairs on disk."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from certificates.client_trial import (
    DISCARDED_RENEWED,
    ClientCertificateTrial,
    Pair,
    Present,
    Settle,
)
from certificates.keys import KeyType, build_csr, generate_key, private_key_pem
from certificates.own_identity import OwnCertificate, OwnCertificates
from certificates.renewal import (
    EXPIRY_RETRY,
    CertificateRenewal,
    RaiseSecurityEvent,
    RenewalSettings,
    UseNewCertificate,
)
from tests.certificates.ca import ONE_DAY, TestCa

IDENTITY = "LC-0001"


def test_a_renewed_certificate_no_entry_takes_gives_way_to_the_old_one_then_is_discarded() -> None:
    trial = ClientCertificateTrial(renewed_on_trial=False)
    assert trial.renewed() == [Present(Pair.RENEWED, reconnect=True)]
    # B10.FR.07: back to the last good connection, and to the old certificate (A02.FR.28).
    assert trial.every_entry_failed(back_to_last_connection=True) == [Present(Pair.SETTLED)]
    assert trial.every_entry_failed(back_to_last_connection=True) == []  # it stays there
    [settle, event] = trial.connected()
    assert settle == Settle(Pair.SETTLED)
    assert isinstance(event, RaiseSecurityEvent) and event.type == DISCARDED_RENEWED
    assert trial.connected() == []  # settled: later connections change nothing


def test_going_round_the_entries_again_alternates_old_and_renewed() -> None:
    trial = ClientCertificateTrial(renewed_on_trial=True)  # after a restart
    assert trial.presenting is Pair.RENEWED
    rounds = [trial.every_entry_failed(back_to_last_connection=False) for _ in range(3)]
    assert rounds == [[Present(Pair.SETTLED)], [Present(Pair.RENEWED)], [Present(Pair.SETTLED)]]
    trial.every_entry_failed(back_to_last_connection=False)
    assert trial.connected() == [Settle(Pair.RENEWED)]  # A02.FR.10: the old one goes


def test_without_tls_on_the_own_link_a_renewal_settles_at_once() -> None:
    assert ClientCertificateTrial(True, judged_by_own_link=False).started() == [
        Settle(Pair.RENEWED)
    ]
    assert ClientCertificateTrial(True, judged_by_own_link=True).started() == []
    trial = ClientCertificateTrial(renewed_on_trial=False, judged_by_own_link=False)
    assert trial.started() == []
    assert trial.renewed() == [Settle(Pair.RENEWED)]
    assert trial.every_entry_failed(back_to_last_connection=True) == []
    assert trial.connected() == []


def test_a_discarded_renewal_is_not_started_again_by_expiry_for_a_day() -> None:
    renewal = CertificateRenewal(RenewalSettings(IDENTITY, "Test CSO", renew_days=30))
    now = datetime.now(UTC)
    expiring = TestCa().sign(
        build_csr(generate_key(KeyType.ECDSA_P256), IDENTITY, "Test CSO"),
        not_after=now + 10 * ONE_DAY,
    )
    renewal.renewed_discarded(now)
    assert renewal.check_expiry(expiring, now + EXPIRY_RETRY - timedelta(minutes=1)) == []
    assert len(renewal.check_expiry(expiring, now + EXPIRY_RETRY)) == 2


def _renewed(ca: TestCa, not_before: datetime) -> UseNewCertificate:
    key = generate_key(KeyType.ECDSA_P256)
    leaf = ca.sign(build_csr(key, IDENTITY, "Test CSO"), not_before=not_before)
    return UseNewCertificate(
        leaf.public_bytes(serialization.Encoding.PEM), private_key_pem(key), not_before
    )


def _files(own: OwnCertificates) -> set[str]:
    return {path.name for path in own.folder.iterdir()}


def _stem(own: OwnCertificate) -> str:
    return own.certificate_path.stem


def test_a_renewed_pair_is_on_trial_beside_the_settled_one_until_one_is_kept(
    tmp_path: Path,
) -> None:
    ca, now = TestCa(), datetime.now(UTC)
    own = OwnCertificates(tmp_path / "station")
    first = own.store(_renewed(ca, now - 2 * ONE_DAY))
    own.keep_only(first)  # settled
    assert own.on_trial() is None and own.settled(now) == first

    second = own.store(_renewed(ca, now - ONE_DAY))
    # A restart reads the same: the renewed pair on trial, the old one settled, both kept.
    again = OwnCertificates(tmp_path / "station")
    assert again.on_trial() == second and again.settled(now) == first
    assert again.current(now) == second  # what renewal watches for expiry
    for pair in (first, second):
        assert stat.S_IMODE(pair.key_path.stat().st_mode) == 0o600

    # A third renewal before the second ever connected: the unproven second goes.
    third = own.store(_renewed(ca, now - timedelta(hours=1)))
    assert own.on_trial() == third and own.settled(now) == first
    assert not second.key_path.exists() and not second.certificate_path.exists()

    own.keep_only(first)  # the old one connected: the renewed one is discarded, key and all
    assert _files(own) == {f"{_stem(first)}.pem", f"{_stem(first)}.key"}
    assert own.on_trial() is None and own.settled(now) == first


def test_the_configured_certificate_settled_leaves_no_pair(tmp_path: Path) -> None:
    own = OwnCertificates(tmp_path / "station")
    renewed = own.store(_renewed(TestCa(), datetime.now(UTC) - ONE_DAY))
    assert own.settled(datetime.now(UTC)) is None  # the configured files are the old pair
    own.keep_only(None)
    assert _files(own) == set()
    assert not renewed.key_path.exists()
