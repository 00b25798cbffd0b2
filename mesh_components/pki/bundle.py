"""The trust bundle: the CA certificates a sidecar accepts peers from, as one PEM file.

Today it holds one CA. A CA rollover publishes the old and the new CA together for an overlap
window, so leaves from either verify; the order given is kept, duplicates dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mesh_components.pki.problems import invalid


@dataclass(frozen=True, slots=True)
class TrustBundle:
    """CA certificates, in the order they are published in `ca.crt`."""

    certificates: tuple[x509.Certificate, ...]

    def __post_init__(self) -> None:
        if not self.certificates:
            raise invalid("pki.bundle", "bundle-empty", "at least one CA certificate", "none")
        unique = tuple(dict.fromkeys(self.certificates))
        object.__setattr__(self, "certificates", unique)

    @classmethod
    def of(cls, *certificates: x509.Certificate) -> TrustBundle:
        return cls(certificates)

    @property
    def pem(self) -> bytes:
        """The concatenated PEM Envoy reads as `trusted_ca`."""
        encoding = serialization.Encoding.PEM
        return b"".join(cert.public_bytes(encoding) for cert in self.certificates)
