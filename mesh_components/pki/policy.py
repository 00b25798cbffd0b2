"""How long leaf certificates live, when they are renewed, and the rotation rule.

Issuance instants are `anchor + k * renew_every`, where `renew_every = validity - renewal_window`
and the anchor is the issuing CA's not_before. At `now` the current certificate is the one issued
at the latest instant <= now: it changes exactly when its renewal window opens, and the one it
replaces stays valid for the whole renewal window, so peers holding either one keep working.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import CertificateSettings, KeyType

_ZERO = datetime.timedelta(0)


@dataclass(frozen=True, slots=True)
class CertificatePolicy:
    """Leaf validity, the renewal window at its end, and the leaf key algorithm.

    The default, 90 days renewed in the last 30, issues a certificate every 60 days.
    """

    validity: datetime.timedelta = datetime.timedelta(days=90)
    renewal_window: datetime.timedelta = datetime.timedelta(days=30)
    key_type: KeyType = KeyType.ECDSA_P256

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise MeshValidationError(problems)

    @classmethod
    def of(cls, settings: CertificateSettings) -> CertificatePolicy:
        """The policy a spec's `mesh.certificates` declares."""
        return cls(
            validity=datetime.timedelta(hours=settings.validity_hours),
            renewal_window=datetime.timedelta(hours=settings.renew_before_hours),
            key_type=settings.key_type,
        )

    @property
    def renew_every(self) -> datetime.timedelta:
        """Time between two issuance instants."""
        return self.validity - self.renewal_window

    def issued_at(self, anchor: datetime.datetime, now: datetime.datetime) -> datetime.datetime:
        """The latest issuance instant <= `now` (both aware, `now` >= `anchor`)."""
        return anchor + ((now - anchor) // self.renew_every) * self.renew_every


def _problems(policy: CertificatePolicy) -> Iterator[Problem]:
    validity, window = policy.validity, policy.renewal_window
    path = "pki.policy"
    for name, value in (("validity", validity), ("renewal_window", window)):
        if value <= _ZERO or value.microseconds:
            found = str(value)
            yield Problem(f"{path}.{name}", "policy-duration-invalid", "whole seconds > 0", found)
    if _ZERO < validity <= window:
        yield Problem(
            f"{path}.renewal_window",
            "policy-renewal-window-too-long",
            f"shorter than the validity ({validity})",
            str(window),
            "renew in the last third of the validity, for example",
        )
