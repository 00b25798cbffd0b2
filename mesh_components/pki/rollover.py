"""CA rollover: the CA that issues leaves, and the CAs sidecars trust beside it meanwhile.

A rollover has three stages, each applied (and propagated to every pod) before the next:

1. **trust the next CA**: the bundle holds the current and the next CA; leaves still come from
   the current one. Every sidecar learns to accept the next CA before anyone presents it.
2. **issue from the next CA**: it becomes the issuer and re-issues every leaf; the previous CA
   stays in the bundle until `retiring_until`, so peers still holding an old leaf keep working.
3. **drop the previous CA**: from `retiring_until` on, the bundle holds the new CA alone.

Stage 3 needs no action: it follows from the clock, because once every leaf is re-issued
nothing depends on the old CA. Stages 1 and 2 are explicit, because skipping one would present
leaves some peers cannot verify yet.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, replace

from mesh_components.model import Identity
from mesh_components.pki.authority import MeshCA
from mesh_components.pki.bundle import TrustBundle
from mesh_components.pki.identity import IdentityCertificate
from mesh_components.pki.policy import CertificatePolicy
from mesh_components.pki.problems import invalid, utc


class RolloverStage(enum.StrEnum):
    """Where a mesh's CAs stand at one instant."""

    STEADY = "steady"
    TRUSTING_NEXT = "trusting-next"
    RETIRING_PREVIOUS = "retiring-previous"


@dataclass(frozen=True, slots=True, repr=False)
class MeshTrust:
    """The issuing CA, plus at most one other CA trusted beside it during a rollover."""

    issuer: MeshCA
    next: MeshCA | None = None
    previous: MeshCA | None = None
    previous_trusted_until: datetime.datetime | None = None

    def __post_init__(self) -> None:
        if self.next is not None and self.previous is not None:
            raise invalid(
                "pki.rollover",
                "rollover-overlapping",
                "one rollover at a time: a next CA or a previous CA",
                "both",
                "finish the current rollover before starting another",
            )
        if (self.previous is None) != (self.previous_trusted_until is None):
            expected = "a previous CA together with the instant it stops being trusted"
            raise invalid("pki.rollover", "rollover-previous-incomplete", expected, "one of them")
        for other in (self.next, self.previous):
            if other is not None and other.trust_domain != self.issuer.trust_domain:
                found = f"{other.trust_domain!r} beside {self.issuer.trust_domain!r}"
                raise invalid("pki.rollover", "rollover-trust-domain", "one trust domain", found)

    def stage(self, now: datetime.datetime) -> RolloverStage:
        if self.next is not None:
            return RolloverStage.TRUSTING_NEXT
        if self._previous_trusted(now):
            return RolloverStage.RETIRING_PREVIOUS
        return RolloverStage.STEADY

    def bundle(self, now: datetime.datetime) -> TrustBundle:
        """What every sidecar trusts at `now`: the issuer first, then the CA rolling in or out."""
        others = [self.next] if self.next is not None else []
        if self.previous is not None and self._previous_trusted(now):
            others.append(self.previous)
        return TrustBundle.of(self.issuer.certificate, *(ca.certificate for ca in others))

    def issue(self, identity: Identity, now: datetime.datetime) -> IdentityCertificate:
        """The issuer's current leaf for `identity`, packaged with the bundle of `now`."""
        return self.issuer.issue(identity, now, bundle=self.bundle(now))

    def with_policy(self, policy: CertificatePolicy) -> MeshTrust:
        return replace(self, issuer=self.issuer.with_policy(policy))

    def _previous_trusted(self, now: datetime.datetime) -> bool:
        until = self.previous_trusted_until
        return until is not None and utc(now, "now") < until

    def __repr__(self) -> str:
        parts = [f"issuer={self.issuer!r}"]
        if self.next is not None:
            parts.append(f"next={self.next!r}")
        if self.previous is not None and self.previous_trusted_until is not None:
            until = self.previous_trusted_until.isoformat()
            parts.append(f"previous={self.previous!r}, previous_trusted_until={until}")
        return f"MeshTrust({', '.join(parts)})"
