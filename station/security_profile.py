"""Raising the security profile of the LC's own link, pure: on 1.6 by ChangeConfiguration of
the `SecurityProfile` key (the 1.6 security whitepaper's A05), on 2.0.1 by a
NetworkConfigurationPriority naming a slot with a higher profile (2.0.1 A05.FR.02/03).

1.6 has no network profiles the CSMS sets: the LC keeps dialling the config file's CSMS, with
the higher profile (`station.network_profiles` keeps it). The value only goes up (A05.FR.01);
each raise needs what its profile presents (A05.FR.02-04).
"""

from __future__ import annotations

from dataclasses import dataclass

HIGHEST = 3


@dataclass(frozen=True, slots=True)
class Prerequisites:
    """What the LC holds that a security profile needs."""

    password: bool  # a valid AuthorizationKey: profiles 1 and 2 send it
    csms_root: bool  # a CSMS root (1.6 CentralSystemRootCertificate) valid now: profiles 2, 3
    client_certificate: bool  # the LC's own (1.6 ChargePointCertificate) valid now: profile 3


def refusal(text: str, current: int, have: Prerequisites) -> str | None:
    """Why ChangeConfiguration SecurityProfile=`text` is Rejected; None: Accepted (A05.FR.05)."""
    try:
        level = int(text)
    except ValueError:
        return f"{text!r} is not a security profile"
    if level > HIGHEST:
        return f"no security profile {level}"
    if level <= current:
        return f"{level} is not above the security profile in use, {current}"  # A05.FR.01
    return missing(level, have)


def missing(level: int, have: Prerequisites) -> str | None:
    """What a raise to security profile `level` needs and the LC lacks (1.6 A05.FR.02-04,
    2.0.1 A05.FR.02/03); None: nothing."""
    if level in (1, 2) and not have.password:
        return f"security profile {level} needs an AuthorizationKey"  # 1.6 A05.FR.02
    if level in (2, 3) and not have.csms_root:
        # 1.6 A05.FR.03, 2.0.1 A05.FR.02/03
        return f"security profile {level} needs a valid CSMS root certificate"
    if level == 3 and not have.client_certificate:  # 1.6 A05.FR.04, 2.0.1 A05.FR.03
        return "security profile 3 needs a valid client certificate of the LC's"
    return None
