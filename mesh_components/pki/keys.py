"""Deterministic private keys: HKDF-SHA256 from a secret, then a P-256 scalar or RSA primes.

The same secret and labels give the same key on every run and machine; different labels give
independent keys. Labels are length-prefixed, so two different label lists never collide.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mesh_components.model import KeyType
from mesh_components.pki.primes import ByteStream, rsa_private_key

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_SCHEME = "mesh-components/pki/v1"
# The order n of the P-256 group (SEC 2, secp256r1).
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# 128 bits beyond the order, so reducing mod n-1 is biased by at most 2^-128 (FIPS 186-5 A.2.1).
_P256_DERIVATION_BYTES = 48
_STREAM_KEY_BYTES = 32


def hkdf(secret: bytes, length: int, *labels: str) -> bytes:
    """`length` bytes of HKDF-SHA256 of `secret`, bound to the scheme and `labels` by `info`."""
    parts = [part.encode() for part in (_SCHEME, *labels)]
    info = b"".join(len(part).to_bytes(2, "big") + part for part in parts)
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


def derive_private_key(secret: bytes, key_type: KeyType, *labels: str) -> PrivateKey:
    """The private key of `key_type` for `labels`, a pure function of `secret`."""
    labels = (*labels, key_type.value)
    if key_type is KeyType.ECDSA_P256:
        material = hkdf(secret, _P256_DERIVATION_BYTES, *labels)
        scalar = int.from_bytes(material, "big") % (_P256_ORDER - 1) + 1
        return ec.derive_private_key(scalar, ec.SECP256R1())
    bits = 2048 if key_type is KeyType.RSA_2048 else 3072
    return rsa_private_key(ByteStream(hkdf(secret, _STREAM_KEY_BYTES, *labels)), bits)


def private_key_der(key: PrivateKey) -> bytes:
    """PKCS#8 DER: the canonical bytes of a key, used as a secret to derive further keys from."""
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def private_key_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: what Envoy reads from `tls.key`."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_der(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
