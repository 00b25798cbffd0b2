"""Loading a CA the user brings: exactly one CA certificate and the EC or RSA key that matches it.

Every problem is reported at once, with a stable code. The key must be unencrypted PEM: it comes
from a Pulumi secret, which is already encrypted at rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.pki.keys import PrivateKey

MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
_CERT = "pki.ca.certificate"
_KEY = "pki.ca.key"
_E = TypeVar("_E", bound=x509.ExtensionType)


def load_ca(certificate_pem: bytes, key_pem: bytes) -> tuple[x509.Certificate, PrivateKey]:
    """The certificate and key, or a MeshValidationError listing everything wrong with them."""
    certificates, certificate_problems = _certificates(certificate_pem)
    key, key_problems = _key(key_pem)
    problems = certificate_problems + key_problems
    if not problems:
        problems = list(_mismatch(certificates[0], key))
    if problems or key is None:
        raise MeshValidationError(problems)
    return certificates[0], key


def _certificates(pem: bytes) -> tuple[list[x509.Certificate], list[Problem]]:
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as error:
        found = f"unreadable PEM ({error})"
        return [], [Problem(_CERT, "ca-certificate-unreadable", "one PEM certificate", found)]
    if len(certificates) != 1:
        found = f"{len(certificates)} certificates"
        fix = "pass only the CA that signs leaves; intermediate chains are not supported yet"
        return [], [Problem(_CERT, "ca-certificate-not-single", "one certificate", found, fix)]
    unparsed = _unparsed_extensions(certificates[0])
    if unparsed:
        return [], [Problem(_CERT, "ca-certificate-unreadable", "one PEM certificate", unparsed)]
    return certificates, list(_not_a_ca(certificates[0]))


def _unparsed_extensions(certificate: x509.Certificate) -> str:
    """Why the certificate's extensions cannot be parsed, or "". cryptography parses them on
    first access, and raises ValueError then for a malformed one (a garbage SAN)."""
    try:
        len(certificate.extensions)
    except ValueError as error:
        return f"extensions that cannot be parsed ({str(error).splitlines()[0]})"
    return ""


def _not_a_ca(certificate: x509.Certificate) -> Iterator[Problem]:
    constraints = _extension(certificate, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        expected = "BasicConstraints CA:TRUE"
        yield Problem(_CERT, "ca-certificate-not-ca", expected, "a certificate that is not a CA")
    # RFC 5280 4.2.1.3: a CA carries KeyUsage with keyCertSign; verifiers reject its leaves if not.
    usage = _extension(certificate, x509.KeyUsage)
    if usage is None or not usage.key_cert_sign:
        found = "no KeyUsage" if usage is None else "KeyUsage without keyCertSign"
        yield Problem(_CERT, "ca-certificate-cannot-sign", "KeyUsage with keyCertSign", found)


def _extension(certificate: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _key(pem: bytes) -> tuple[PrivateKey | None, list[Problem]]:
    expected = "an unencrypted PEM EC or RSA private key"
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (TypeError, ValueError) as error:
        return None, [Problem(_KEY, "ca-key-unreadable", expected, f"unreadable ({error})")]
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        found = type(key).__name__
        return None, [Problem(_KEY, "ca-key-type-unsupported", expected, found)]
    return key, list(_weak(key))


def _weak(key: PrivateKey) -> Iterator[Problem]:
    """A CA key anyone could factor or solve in reach of today's attackers mints identities for
    them; NIST SP 800-57 retired RSA below 2048 bits and curves below 256."""
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        found = f"an RSA key of {key.key_size} bits"
        expected = f"an RSA key of at least {MIN_RSA_BITS} bits, or an EC key on P-256 or larger"
        fix = "issue a new CA with a stronger key (e.g. `openssl ecparam -name prime256v1`)"
        yield Problem(_KEY, "ca-key-too-weak", expected, found, fix)
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size < MIN_EC_BITS:
        found = f"an EC key on {key.curve.name}"
        expected = f"an EC key on a curve of at least {MIN_EC_BITS} bits (P-256, P-384, P-521)"
        fix = "issue a new CA on P-256 or larger"
        yield Problem(_KEY, "ca-key-too-weak", expected, found, fix)


def _mismatch(certificate: x509.Certificate, key: PrivateKey | None) -> Iterator[Problem]:
    if key is None:
        return
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
        yield Problem(
            _KEY,
            "ca-key-mismatch",
            "the private key of the CA certificate",
            "a key whose public half is not the certificate's",
            "pass the key that was generated with this certificate",
        )
