"""The mesh CA: a root derived from a secret seed, or imported, that issues identity leaves.

A seeded CA is the pure function of (seed, trust domain, key type, not_before, validity): change
any of them and it is a new CA with a new key, which is how a rollover mints the next one. Leaf
keys derive from the CA key, per identity and per issuance, so every rotation rotates the key.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mesh_components.model import Identity, KeyType
from mesh_components.pki.bundle import TrustBundle
from mesh_components.pki.certificates import leaf_certificate, root_certificate
from mesh_components.pki.identity import IdentityCertificate
from mesh_components.pki.imported import load_ca
from mesh_components.pki.keys import PrivateKey, derive_private_key, hkdf, private_key_der
from mesh_components.pki.policy import CertificatePolicy
from mesh_components.pki.problems import check_seed, invalid, utc

DEFAULT_CA_VALIDITY = datetime.timedelta(days=3650)
DEFAULT_POLICY = CertificatePolicy()
_LEAF_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class MeshCA:
    """A CA certificate and its key, the trust domain it names, and the policy of its leaves."""

    trust_domain: str
    certificate: x509.Certificate
    policy: CertificatePolicy
    _key: PrivateKey
    _leaf_secret: bytes

    @classmethod
    def from_seed(
        cls,
        seed: bytes,
        *,
        trust_domain: str,
        not_before: datetime.datetime,
        key_type: KeyType = KeyType.ECDSA_P256,
        validity: datetime.timedelta = DEFAULT_CA_VALIDITY,
        policy: CertificatePolicy = DEFAULT_POLICY,
    ) -> MeshCA:
        """The root whose key is HKDF(seed) for this trust domain, key type and start instant."""
        check_seed(seed)
        start = utc(not_before, "pki.ca.not_before", whole_seconds=True)
        if validity <= datetime.timedelta(0) or validity.microseconds:
            raise invalid(
                "pki.ca.validity", "ca-validity-invalid", "whole seconds > 0", str(validity)
            )
        key = derive_private_key(seed, key_type, "ca-key", trust_domain, start.isoformat())
        certificate = root_certificate(key, not_before=start, not_after=start + validity)
        return cls._of(trust_domain, certificate, key, policy)

    @classmethod
    def imported(
        cls,
        certificate_pem: bytes,
        key_pem: bytes,
        *,
        trust_domain: str,
        policy: CertificatePolicy = DEFAULT_POLICY,
    ) -> MeshCA:
        """A CA the user brings: one CA certificate and its unencrypted EC or RSA key, as PEM."""
        certificate, key = load_ca(certificate_pem, key_pem)
        return cls._of(trust_domain, certificate, key, policy)

    @classmethod
    def _of(
        cls,
        trust_domain: str,
        certificate: x509.Certificate,
        key: PrivateKey,
        policy: CertificatePolicy,
    ) -> MeshCA:
        # Leaf keys come from the CA key, so a re-derived or re-imported CA re-derives its leaves.
        secret = hkdf(private_key_der(key), _LEAF_SECRET_BYTES, "leaf-secret", trust_domain)
        return cls(trust_domain, certificate, policy, key, secret)

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def not_before(self) -> datetime.datetime:
        """The start of the CA's validity, and the anchor of every leaf's rotation schedule."""
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> datetime.datetime:
        return self.certificate.not_valid_after_utc

    @property
    def bundle(self) -> TrustBundle:
        """This CA alone; a rollover passes a bundle of two to `issue` instead."""
        return TrustBundle.of(self.certificate)

    def with_policy(self, policy: CertificatePolicy) -> MeshCA:
        return replace(self, policy=policy)

    def issue(
        self, identity: Identity, now: datetime.datetime, *, bundle: TrustBundle | None = None
    ) -> IdentityCertificate:
        """What `identity` holds at `now`: the certificate issued at the latest instant <= now."""
        now = self._check_valid_at(utc(now, "now"))
        bundle = self._check_bundle(self.bundle if bundle is None else bundle)
        issued = self.policy.issued_at(self.not_before, now)
        spiffe_id = identity.spiffe_id(self.trust_domain)
        key = self._leaf_key(spiffe_id, issued)
        certificate = leaf_certificate(
            key,
            issuer=(self.certificate, self._key),
            spiffe_id=spiffe_id,
            dns_name=identity.dns_name(self.trust_domain),
            validity=(issued, min(issued + self.policy.validity, self.not_after)),
        )
        renews_at = issued + self.policy.renew_every
        return IdentityCertificate.of(
            identity, certificate, key, bundle=bundle, renews_at=renews_at
        )

    def _leaf_key(self, spiffe_id: str, issued: datetime.datetime) -> PrivateKey:
        """Per identity and per issuance: a rotation replaces the key too, so a leaked key is
        worth no more than the certificate it came with."""
        labels = ("leaf-key", spiffe_id, issued.isoformat())
        return derive_private_key(self._leaf_secret, self.policy.key_type, *labels)

    def _check_valid_at(self, now: datetime.datetime) -> datetime.datetime:
        if now < self.not_before:
            found = now.isoformat()
            raise invalid("now", "ca-not-yet-valid", f">= {self.not_before.isoformat()}", found)
        if now > self.not_after:
            raise invalid(
                "now",
                "ca-expired",
                f"<= {self.not_after.isoformat()}",
                now.isoformat(),
                "roll the CA over: publish a new CA next to this one, then re-issue the leaves",
            )
        return now

    def _check_bundle(self, bundle: TrustBundle) -> TrustBundle:
        if self.certificate not in bundle.certificates:
            expected = "a bundle holding the issuing CA"
            raise invalid("pki.bundle", "bundle-missing-issuer", expected, "a bundle without it")
        return bundle

    def __repr__(self) -> str:
        fingerprint = hashlib.sha256(self.certificate.public_bytes(serialization.Encoding.DER))
        return (
            f"MeshCA(trust_domain={self.trust_domain!r}, "
            f"subject={self.certificate.subject.rfc4514_string()!r}, "
            f"sha256={fingerprint.hexdigest()[:16]}, not_after={self.not_after.isoformat()}, "
            "key=<redacted>)"
        )
