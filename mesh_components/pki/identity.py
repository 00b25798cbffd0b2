"""One identity's certificate, key and CA bundle: the three files of its Secret.

Frozen and comparable byte for byte, so two runs can be checked for equality. The private key
never appears in `repr` or `str`; it leaves this object only through `files()`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mesh_components import names
from mesh_components.model import Identity
from mesh_components.pki.bundle import TrustBundle
from mesh_components.pki.keys import PrivateKey, private_key_pem


@dataclass(frozen=True, slots=True, repr=False)
class IdentityCertificate:
    """A leaf certificate for one identity, its private key and the trust bundle, all PEM.

    `renews_at` is the next issuance instant: from then on the CA issues a new certificate.
    """

    identity: Identity
    spiffe_id: str
    serial: int
    not_before: datetime.datetime
    not_after: datetime.datetime
    renews_at: datetime.datetime
    certificate_pem: bytes
    ca_bundle_pem: bytes
    private_key_pem: bytes

    @classmethod
    def of(
        cls,
        identity: Identity,
        certificate: x509.Certificate,
        key: PrivateKey,
        *,
        bundle: TrustBundle,
        renews_at: datetime.datetime,
    ) -> IdentityCertificate:
        """Package a signed leaf (its first URI SAN is the SPIFFE ID) with its key and bundle."""
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return cls(
            identity=identity,
            spiffe_id=san.get_values_for_type(x509.UniformResourceIdentifier)[0],
            serial=certificate.serial_number,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            renews_at=renews_at,
            certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
            ca_bundle_pem=bundle.pem,
            private_key_pem=private_key_pem(key),
        )

    def files(self) -> dict[str, bytes]:
        """The Secret's data: chain, key and CA bundle under the names the sidecar reads."""
        return {
            names.CA_BUNDLE_FILE: self.ca_bundle_pem,
            names.CERT_CHAIN_FILE: self.certificate_pem,
            names.PRIVATE_KEY_FILE: self.private_key_pem,
        }

    def __repr__(self) -> str:
        return (
            f"IdentityCertificate(spiffe_id={self.spiffe_id!r}, serial={self.serial:#x}, "
            f"not_before={self.not_before.isoformat()}, not_after={self.not_after.isoformat()}, "
            "private_key=<redacted>)"
        )
