"""X.509 building: the root CA certificate, identity leaves, serials and deterministic signing.

Nothing here reads a clock or a random source: serials are hashes of the inputs, validity comes
from the caller, and ECDSA signatures use RFC 6979 nonces (RSA PKCS#1 v1.5 is deterministic).
"""

from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mesh_components.pki.keys import PrivateKey, public_key_der

ORGANIZATION = "mesh-components"
_SERIAL_BYTES = 20
_EC_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


def serial_number(*parts: bytes) -> int:
    """A positive serial below 2^159 (so at most 20 DER octets): the hash of `parts`."""
    digest = hashlib.sha256(b"".join(len(p).to_bytes(4, "big") + p for p in parts)).digest()
    return (int.from_bytes(digest[:_SERIAL_BYTES], "big") >> 1) or 1


def sign(builder: x509.CertificateBuilder, key: PrivateKey) -> x509.Certificate:
    """Sign deterministically: RFC 6979 for ECDSA, PKCS#1 v1.5 (deterministic already) for RSA."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = _EC_HASHES.get(key.curve.name, hashes.SHA256)()
        return builder.sign(key, algorithm, ecdsa_deterministic=True)
    return builder.sign(key, hashes.SHA256())


def root_certificate(
    key: PrivateKey, *, not_before: datetime.datetime, not_after: datetime.datetime
) -> x509.Certificate:
    """A self-signed root that signs leaves only (path length 0)."""
    # The start instant is in the name, so the old and new roots of a rollover differ by name.
    common_name = f"mesh root CA {not_before:%Y-%m-%dT%H:%M:%SZ}"
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    serial = serial_number(
        b"root", public_key_der(key), name.public_bytes(), _instants(not_before, not_after)
    )
    builder = (
        _builder(name, name, key, (not_before, not_after))
        .serial_number(serial)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(key_cert_sign=True), critical=True)
    )
    return sign(builder, key)


def leaf_certificate(
    key: PrivateKey,
    *,
    issuer: tuple[x509.Certificate, PrivateKey],
    spiffe_id: str,
    dns_name: str,
    validity: tuple[datetime.datetime, datetime.datetime],
) -> x509.Certificate:
    """An X.509-SVID for `spiffe_id`: client and server auth, no subject, SANs critical."""
    issuer_certificate, issuer_key = issuer
    serial = serial_number(
        b"leaf",
        issuer_certificate.fingerprint(hashes.SHA256()),
        spiffe_id.encode(),
        dns_name.encode(),
        public_key_der(key),
        _instants(*validity),
    )
    san = x509.SubjectAlternativeName(
        [x509.UniformResourceIdentifier(spiffe_id), x509.DNSName(dns_name)]
    )
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    builder = (
        _builder(x509.Name([]), issuer_certificate.subject, key, validity)
        .serial_number(serial)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(digital_signature=True, key_encipherment=is_rsa), critical=True)
        .add_extension(eku, critical=False)
        # RFC 5280 4.2.1.6: with an empty subject the SAN extension must be critical.
        .add_extension(san, critical=True)
        .add_extension(_authority_key_id(issuer_certificate, issuer_key), critical=False)
    )
    return sign(builder, issuer_key)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    validity: tuple[datetime.datetime, datetime.datetime],
) -> x509.CertificateBuilder:
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _authority_key_id(
    issuer: x509.Certificate, issuer_key: PrivateKey
) -> x509.AuthorityKeyIdentifier:
    """From the issuer's SKI when it has one (an imported CA may use another method)."""
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def key_usage(
    *, digital_signature: bool = False, key_encipherment: bool = False, key_cert_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _instants(start: datetime.datetime, end: datetime.datetime) -> bytes:
    return f"{start.isoformat()}/{end.isoformat()}".encode()
