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
    return certificates, list(_not_a_ca(certificates[0]))


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
    return key, []


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
